"""The versioned data contract: parsing with errors naming the key, dump/load round trip, and the
``infer`` command that drafts a contract from a data file."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from tabstudy.data import contract, schema
from tabstudy.data.contract import ContractError, load_contract

from .conftest import REPO


@pytest.mark.parametrize("name", ["nycflights13", "breast_cancer"])
def test_shipped_contracts_load_and_round_trip(name, tmp_path) -> None:
    loaded = load_contract(REPO / "contracts" / f"{name}.yaml")
    again = tmp_path / "again.yaml"
    again.write_text(contract.dump_contract(loaded, header="copy"))
    assert load_contract(again) == loaded


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(version=2), "key 'version'"),
        (
            lambda c: c["tables"]["t"]["columns"]["a"].update(type="integer"),
            "tables.t.columns.a.type",
        ),
        (lambda c: c["tables"]["t"]["columns"]["a"].update(colour="red"), "columns.a.colour"),
        (lambda c: c["tables"]["t"].update(key=["zz"]), "key column(s) zz are not declared"),
        (lambda c: c["tables"]["t"]["columns"]["a"].update(min=5, max=1), "min 5.0 is above max"),
        (
            lambda c: c["tables"]["t"]["columns"]["a"].update(categories=["x"]),
            "string columns only",
        ),
    ],
)
def test_malformed_contract_names_the_key(tmp_path, edit, message) -> None:
    raw = {"version": 1, "name": "n", "tables": {"t": {"columns": {"a": {"type": "int"}}}}}
    edit(raw)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ContractError) as err:
        load_contract(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_missing_contract_says_how_to_draft_one(tmp_path) -> None:
    with pytest.raises(ContractError, match="no such contract; draft one with"):
        load_contract(tmp_path / "none.yaml")


def test_infer_types_nullability_ranges_and_categories() -> None:
    frame = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "f": [0.5, np.nan, 2.0],
            "whole": [1.0, np.nan, 3.0],  # integers that became floats because of a null
            "s": ["x", "y", None],
            "flag": [True, False, True],
            "id": ["a", "b", "c"],
        }
    )
    table = contract.infer_table(frame, max_categories=2)
    c = table.columns
    assert (c["n"].type, c["n"].nullable, c["n"].min, c["n"].max) == ("int", False, 1, 3)
    assert (c["f"].type, c["f"].nullable) == ("float", True)
    assert c["whole"].type == "int"
    assert (c["s"].type, c["s"].nullable, c["s"].categories) == ("string", True, ["x", "y"])
    assert c["flag"].type == "bool" and c["id"].categories is None  # 3 values > max 2
    assert table.key == []
    # the draft accepts the data it was drafted from
    found = schema.check_table(frame, "t", table, schema.Thresholds(max_missing_share=1.0))
    assert {a.status for a in found} == {"ok", "note"}  # notes: the nulls, below the threshold


def test_infer_command_writes_a_reviewable_draft(tmp_path) -> None:
    data = tmp_path / "loans.csv"
    pd.DataFrame({"amount": [100.0, 250.5], "grade": ["A", "B"], "paid": [1, 0]}).to_csv(
        data, index=False
    )
    out = tmp_path / "contracts" / "loans.yaml"
    cmd = [sys.executable, "-m", "tabstudy", "contract", "infer", str(data), "--output", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    draft = load_contract(out)
    assert draft.name == "loans" and list(draft.tables["loans"].columns) == [
        "amount",
        "grade",
        "paid",
    ]
    assert "Review before committing" in out.read_text()
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and "exists; pass --force" in again.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "tabstudy", "contract", "infer", str(tmp_path / "none.csv")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "no such file" in bad.stderr
