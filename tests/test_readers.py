"""Bad input files: each gets a clear error naming the file and what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tabstudy.data import readers, schema
from tabstudy.data.contract import load_contract
from tabstudy.data.readers import DataReadError, read_table_file

from .conftest import REPO, flight

GOOD = "a,b,c\n1,2,x\n3,4,y\n"


def _write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_good_csv_and_parquet(tmp_path) -> None:
    frame = read_table_file(_write(tmp_path, "ok.csv", GOOD), required=["a", "c"])
    assert frame.shape == (2, 3)
    frame.to_parquet(tmp_path / "ok.parquet")
    assert read_table_file(tmp_path / "ok.parquet").equals(frame)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty (0 bytes)"),
        ("header.csv", "a,b,c\n", "header only, no data rows"),
        ("semi.csv", "a;b;c\n1;2;x\n", "seems to use ';' as delimiter"),
        ("truncated.csv", "a,b,c\n1,2,x\n3,4", "last line, the file looks truncated"),
        ("ragged.csv", "a,b,c\n1,2\n3,4,y\n", "line 2: 2 field(s) where the header has 3"),
        (
            "latin1.csv",
            "a,b,c\n1,2,x\n3,4,caf\xe9\n".encode("latin-1"),
            "not UTF-8 text: byte b'\\xe9'",
        ),
        ("dupes.csv", "a,b,a\n1,2,3\n", "duplicated column name(s): a"),
        ("table.xlsx", "whatever", "unsupported file type '.xlsx'"),
    ],
)
def test_bad_csv_is_named(tmp_path, name, content, message) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(DataReadError) as err:
        read_table_file(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_non_utf8_gives_line_number(tmp_path) -> None:
    path = _write(tmp_path, "x.csv", "a,b\n1,2\n3,\xff\n".encode("latin-1"))
    with pytest.raises(DataReadError, match=r"offset \d+ \(line 3\)"):
        read_table_file(path)


def test_missing_required_column(tmp_path) -> None:
    with pytest.raises(DataReadError, match=r"missing column\(s\) arr_delay; present: a, b, c"):
        read_table_file(_write(tmp_path, "ok.csv", GOOD), required=["a", "arr_delay"])


def test_missing_file(tmp_path) -> None:
    with pytest.raises(DataReadError, match="no such file"):
        read_table_file(tmp_path / "nope.csv")


def test_truncated_parquet(tmp_path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": np.arange(1000)}).to_parquet(path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataReadError, match="truncated or corrupt"):
        read_table_file(path)


def test_parquet_with_duplicated_columns(tmp_path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]), path)
    with pytest.raises(DataReadError, match=r"duplicated column name\(s\): a"):
        read_table_file(path)


def _contract_failures(frame: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    rules = load_contract(REPO / "contracts" / "nycflights13.yaml").tables["flights"]
    found = schema.check_table(frame, "flights", rules, schema.Thresholds())
    return {(a.column, a.rule): a.examples for a in found if a.status == "fail"}


def test_text_in_numeric_column_and_infinity_fail_the_contract(tmp_path) -> None:
    rows = pd.DataFrame([flight(), flight(flight=2)])
    rows["distance"] = rows["distance"].astype(object)
    rows.loc[1, "distance"] = "far"
    path = tmp_path / "flights.csv"
    rows.assign(arr_delay=[11.0, float("inf")]).to_csv(path, index=False)
    failures = _contract_failures(read_table_file(path))
    assert failures == {("distance", "type int"): ["'far'"], ("arr_delay", "finite"): ["inf"]}


def test_duplicated_keys_fail_the_contract(tmp_path) -> None:
    path = tmp_path / "flights.csv"
    pd.DataFrame([flight(), flight()]).to_csv(path, index=False)
    (rule,) = _contract_failures(read_table_file(path))
    assert rule[1] == "unique key"


def test_reader_module_lists_its_formats() -> None:
    assert ".csv" in readers.CSV_SUFFIXES and ".parquet" in readers.PARQUET_SUFFIXES
