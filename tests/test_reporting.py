"""Executed notebooks keep real output but no machine-specific noise."""

from __future__ import annotations

import nbformat

from tabstudy.reporting import strip_noise


def test_strip_noise_drops_tf_chatter_and_warning_locations(tmp_path) -> None:
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text=(
                "ipykernel_7/1.py:1: DataQualityWarning: table 'weather', column 'x'\n"
                "  schema.warn_soft(anomalies)\n"
                "I0000 00:00:1795705625.322047    9872 port.cc:153] oneDNN custom operations\n"
                f"Reloading Tuner from {tmp_path / 'tuner0.json'}\n"
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


def test_stable_metadata_drops_timings_paths_and_random_ids(tmp_path) -> None:
    from tabstudy.reporting import stable_metadata

    injected = nbformat.v4.new_code_cell("seed = 1", metadata={"tags": ["injected-parameters"]})
    injected["id"] = "3f9c2a1b"
    injected.metadata["papermill"] = {"start_time": "t0", "duration": 1.5, "status": "completed"}
    injected.metadata["execution"] = {"iopub.status.busy": "2026-11-29T17:00:00"}
    nb = nbformat.v4.new_notebook(cells=[injected])
    nb.metadata["papermill"] = {
        "start_time": "t0",
        "end_time": "t1",
        "duration": 2.0,
        "input_path": str(tmp_path / "notebooks" / "x.ipynb"),
        "output_path": str(tmp_path / "x.ipynb"),
        "parameters": {"seed": 1},
    }
    stable_metadata(nb)
    assert nb.metadata["papermill"] == {"parameters": {"seed": 1}}
    cell = nb.cells[0]
    assert cell["id"] == "injected-parameters" and "execution" not in cell.metadata
    assert cell.metadata["papermill"] == {"status": "completed"}
