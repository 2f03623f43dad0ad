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


def test_a_stage_kernel_prints_each_warning_on_one_line() -> None:
    """Under the runner's environment a library's multi-line warning is one line, with no file
    location or echoed source, so the stage's warning list holds it whole."""
    import os
    import subprocess
    import sys

    from tabstudy import console

    code = (
        "import warnings, tabstudy\n"
        "class ConvergenceWarning(UserWarning): pass\n"
        "warnings.warn('lbfgs failed to converge (status=1):\\nSTOP: TOTAL NO. OF ITERATIONS"
        "\\n\\nIncrease the number of iterations', ConvergenceWarning)\n"
    )
    env = {**os.environ, console.ONE_LINE_ENV: "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stderr == (
        "ConvergenceWarning: lbfgs failed to converge (status=1): STOP: TOTAL NO. OF "
        "ITERATIONS Increase the number of iterations\n"
    )
    env.pop(console.ONE_LINE_ENV)
    plain = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert plain.stderr.startswith("<string>:3: ConvergenceWarning")  # Python's own format


def _frame_html(frame, **options) -> str:
    """``frame`` as a report page shows it, under pandas display ``options``."""
    import pandas as pd

    with pd.option_context(*[x for kv in options.items() for x in kv]):
        return frame._repr_html_()


def test_page_problems_catch_series_footers_elided_tables_and_cut_cells() -> None:
    import numpy as np
    import pandas as pd

    from tabstudy.reporting import page_problems

    footer = "<pre>rules    157\nok       157\nName: rules, dtype: int64</pre>"
    assert page_problems(footer) == ["pandas Series footer 'Name: rules, dtype: int64'"]
    assert page_problems("<pre>Series([], dtype: float64)</pre>") == [
        "pandas Series footer 'dtype: float64'"
    ]
    wide = _frame_html(pd.DataFrame(np.zeros((8, 21))), **{"display.max_columns": 20})
    assert page_problems(wide) == [
        "elided table (8 rows × 21 columns)",
        "a table with elided rows or columns ('...' cells)",
    ]
    long = _frame_html(pd.DataFrame({"x": range(100)}), **{"display.max_rows": 60})
    assert "a table with elided rows or columns ('...' cells)" in page_problems(long)
    text = "a column of the input row; declared known at prediction time"
    cut = _frame_html(pd.DataFrame({"asof": [text]}), **{"display.max_colwidth": 50})
    assert page_problems(cut) == [
        "table cell cut short: 'a column of the input row; declared known at p...'"
    ]


def test_whole_tables_show_every_column_and_the_full_text() -> None:
    import numpy as np
    import pandas as pd

    from tabstudy.reporting import WHOLE_TABLES, page_problems

    text = "a column of the input row; declared known at prediction time"
    wide = pd.DataFrame(np.zeros((8, 21))).assign(asof=text)
    page = _frame_html(wide, **WHOLE_TABLES)
    assert page_problems(page) == [] and text in page


def test_page_problems_catch_empty_headings() -> None:
    from tabstudy.reporting import page_problems

    anchor = '<a class="anchor-link" href="#By-group">\u00b6</a>'
    page = (
        "<html><head><title>03</title><style>h2 { }</style></head><body>"
        f"<h1>03 · EDA</h1><p>intro</p><h2>By group{anchor}</h2>"
        "<h2>Numeric</h2><h3>Quintiles</h3><table><tr><td>1</td></tr></table>"
        '<h2>Figures</h2><img src="data:image/png;base64,AAAA">'
        "<h2>Findings</h2></body></html>"
    )
    assert page_problems(page) == ["empty heading 'By group'", "empty heading 'Findings'"]
    assert page_problems("<h2>A</h2><h3>B</h3><p>text</p>") == []


def test_visible_text_leaves_out_tags_scripts_styles_and_the_head() -> None:
    from tabstudy.reporting import visible_text

    page = (
        "<html><head><title>late</title><style>.late { }</style></head><body>"
        "<script>var delay = 1;</script><p>on &amp; off</p><td>x</td></body></html>"
    )
    assert visible_text(page) == "on & offx"


def test_an_empty_table_is_shown_as_a_sentence() -> None:
    import pandas as pd
    from IPython.display import Markdown

    from tabstudy.reporting import table_or_note

    note = table_or_note(pd.DataFrame(columns=["window", "rule"]), "No alert fired.")
    assert isinstance(note, Markdown) and note.data == "No alert fired."
    table = pd.DataFrame({"window": ["w1"]})
    assert table_or_note(table, "No alert fired.") is table
