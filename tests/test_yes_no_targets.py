"""`dvc exp run -S` rewrites params.yaml with a YAML 1.2 writer (no quotes on `yes`); a yes/no
target must still work, through the real DVC command, for every value YAML 1.1 would have
turned into a boolean or a number."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import copy_repo, run_in, set_params

pytestmark = pytest.mark.slow

TARGETS = {  # column: (positive as typed on the command line, the other value)
    "t_yes": ("yes", "no"),
    "t_no": ("no", "yes"),
    "t_on": ("on", "off"),
    "t_Y": ("Y", "N"),
    "t_1": ("1", "0"),
    "t_true": ("true", "false"),
}


def _table(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    hit = rng.random(n) < 0.4
    frame = pd.DataFrame({"x": rng.normal(size=n), "kind": rng.choice(["a", "b"], n)})
    for column, (positive, other) in TARGETS.items():
        frame[column] = np.where(hit, positive, other)
    return frame


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> Path:
    work = copy_repo(tmp_path_factory.mktemp("answers") / "repo")
    _table().to_csv(work / "external" / "answers.csv", index=False)
    run_in(work, "python", "-m", "tabstudy", "contract", "infer", "external/answers.csv",
           "--output", "contracts/answers.yaml")  # fmt: skip
    set_params(
        work,
        **{
            "profile": "answers",
            "data.profiles.answers": {"source": "file", "path": "external/answers.csv",
                                      "delimiter": ",", "sample_frac": 1.0},
            "validate.profiles.answers": {"contract": "contracts/answers.yaml"},
            "target.profiles.answers": {"column": "t_yes", "positive": "yes"},
        },
    )  # fmt: skip
    for cmd in (
        ("git", "init", "-q"),
        ("git", "add", "-A"),
        ("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x"),
    ):
        run_in(work, *cmd)  # fmt: skip
    return work


@pytest.mark.parametrize("column", list(TARGETS))
def test_dvc_exp_run_set_param_keeps_the_target_value(answers, column) -> None:
    positive = TARGETS[column][0]
    out = run_in(
        answers, "dvc", "exp", "run", "validate",
        "-S", f"target.profiles.answers.column={column}",
        "-S", f"target.profiles.answers.positive={positive}",
        check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    params = (answers / "params.yaml").read_text()
    assert f"positive: {positive}\n" in params  # DVC wrote it without quotes
    report = json.loads((answers / "reports" / "metrics" / "detail" / "validate.json").read_text())
    assert report["fail"] == 0, report
