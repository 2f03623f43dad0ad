"""Executed notebooks keep real output but no machine-specific noise."""

from __future__ import annotations

import nbformat

from tabstudy.reporting import strip_noise


def test_strip_noise_drops_tf_chatter_and_warning_locations() -> None:
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text=(
                "ipykernel_7/1.py:1: DataQualityWarning: table 'weather', column 'x'\n"
                "  schema.warn_soft(anomalies)\n"
                "I0000 00:00:1795705625.322047    9872 port.cc:153] oneDNN custom operations\n"
                "a real message\n"
            ),
        ),
        nbformat.v4.new_output(
            "stream", name="stderr", text="WARNING: All log messages before absl::InitializeLog\n"
        ),
    ]
    nb = strip_noise(nbformat.v4.new_notebook(cells=[cell]))
    (out,) = nb.cells[0].outputs
    assert out["text"] == "DataQualityWarning: table 'weather', column 'x'\na real message\n"
