from __future__ import annotations

import pandas as pd
import pytest

from tabstudy.data import ingest, schema

from .conftest import flight


@pytest.fixture(scope="module")
def shipped() -> dict[str, pd.DataFrame]:
    return {name: ingest.read_table(name) for name in ingest.FILES}


def test_shipped_data_has_no_hard_violation(shipped) -> None:
    violations = schema.validate_all(shipped, max_missing=0.05, fact_min_rows=100)
    assert [v for v in violations if v.severity == "hard"] == []
    soft = {(v.table, v.column) for v in violations}
    assert ("weather", "wind_gust") in soft  # ~80% missing: reported, not fatal


def _flights(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _hard(df: pd.DataFrame) -> list[schema.Violation]:
    found = schema.check_table(df, schema.NYCFLIGHTS13["flights"], 0.05, min_rows=1)
    return [v for v in found if v.severity == "hard"]


def test_missing_column_names_file_column_rule() -> None:
    df = _flights([flight()]).drop(columns=["carrier"])
    with pytest.raises(schema.DataValidationError) as err:
        schema.raise_for_hard(_hard(df), {"flights": "data/raw/flights.parquet"})
    msg = str(err.value)
    assert "data/raw/flights.parquet" in msg and "'carrier'" in msg and "column present" in msg


def test_text_in_numeric_column_shows_example() -> None:
    df = _flights([flight(), flight(flight=2)])
    df["distance"] = ["1400", "far"]
    (v,) = _hard(df)
    assert v.column == "distance" and v.rule.startswith("type int") and "'far'" in v.examples


def test_out_of_range_value_is_an_example() -> None:
    (v,) = _hard(_flights([flight(), flight(flight=2, month=13)]))
    assert (v.column, v.count, v.examples) == ("month", 1, ["13"])


def test_infinite_value_is_out_of_range() -> None:
    (v,) = _hard(_flights([flight(arr_delay=float("inf"))]))
    assert v.column == "arr_delay" and v.examples == ["inf"]


def test_duplicated_key() -> None:
    (v,) = _hard(_flights([flight(), flight()]))
    assert v.rule == "unique key" and "1545" in v.examples[0]


def test_null_where_not_allowed() -> None:
    (v,) = _hard(_flights([flight(carrier=None)]))
    assert (v.column, v.rule) == ("carrier", "not null")


def test_empty_table() -> None:
    empty = _flights([flight()]).iloc[:0]
    (v,) = schema.check_table(empty, schema.NYCFLIGHTS13["flights"], 0.05)
    assert v.rule == "at least 1 row(s)"


def test_missing_table_is_hard(shipped) -> None:
    tables = {k: v for k, v in shipped.items() if k != "planes"}
    violations = schema.validate_all(tables, 0.05, 1)
    assert any(v.table == "planes" and v.rule == "table present" for v in violations)


def test_soft_missing_share_is_not_fatal() -> None:
    df = _flights([flight(), flight(flight=2, tailnum=None)])
    found = schema.check_table(df, schema.NYCFLIGHTS13["flights"], 0.05, min_rows=1)
    assert [(v.column, v.severity) for v in found] == [("tailnum", "soft")]
    schema.raise_for_hard(found, {})
