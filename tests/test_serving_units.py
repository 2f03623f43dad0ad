"""The service's parts without a server: the request log rotates by size and pushes back when the
disk is behind, stale-feature checks, and request types as strict as the OpenAPI schema says."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from tabstudy.data.store import StoreError
from tabstudy.serving import freshness, requestlog, schemas
from tabstudy.studies.flights.online import FlightRequest

HOUR = 3600


def _record(i: int) -> dict[str, object]:
    return {"request_id": f"r{i:04d}", "probability": [0.5], "pad": "x" * 200}


def test_the_log_rotates_by_size_keeps_the_newest_files_and_reads_them_in_order(tmp_path) -> None:
    log = requestlog.RequestLog(tmp_path, max_bytes=4096, keep=3)
    for i in range(200):  # ~250 bytes a line: ~16 lines a file, 13 files written, 4 kept
        log.write([_record(i)])
    log.close()
    path = tmp_path / requestlog.FILE_NAME
    files = requestlog.files(path)
    assert [f.name for f in files] == [f"{path.name}.3", f"{path.name}.2", f"{path.name}.1",
                                       path.name]  # fmt: skip
    assert all(f.stat().st_size <= 4096 for f in files)
    ids = [r["request_id"] for r in requestlog.read(path)]
    assert ids == [f"r{i:04d}" for i in range(200 - len(ids), 200)]  # the newest, in order
    assert 40 < len(ids) < 70
    # a new log appends to the current file and rotates on from there
    again = requestlog.RequestLog(tmp_path, max_bytes=4096, keep=3)
    again.write([_record(200)])
    again.close()
    assert requestlog.read(path)[-1]["request_id"] == "r0200"


def test_a_line_longer_than_the_limit_gets_a_file_of_its_own(tmp_path) -> None:
    log = requestlog.RequestLog(tmp_path, max_bytes=4096, keep=2)
    log.write([{"big": "y" * 10_000}])
    log.write([_record(1)])
    log.close()
    sizes = [f.stat().st_size for f in requestlog.files(tmp_path / requestlog.FILE_NAME)]
    assert sizes[0] > 10_000 and sizes[1] < 4096


class _SlowDisk(requestlog.RequestLog):
    """A log whose disk stalls until ``go`` is set (the writer thread waits in each append)."""

    go = threading.Event()

    def _append(self, line: str) -> None:
        self.go.wait()
        super()._append(line)


def test_a_full_queue_refuses_instead_of_dropping_and_close_writes_every_accepted_line(
    tmp_path,
) -> None:
    log = _SlowDisk(tmp_path, max_queued=3)
    accepted, refused = 0, 0
    for i in range(10):
        try:
            log.write([_record(i)])
            accepted += 1
        except requestlog.LogFull as err:
            assert "3 requests waiting for the disk" in str(err)
            refused += 1
    # the writer holds one batch (the first line) while the disk stalls; three more wait
    assert accepted in (3, 4) and refused == 10 - accepted
    _SlowDisk.go.set()
    log.close()
    assert len(requestlog.read(tmp_path / requestlog.FILE_NAME)) == accepted


def test_reading_names_a_bad_line_and_a_missing_log(tmp_path) -> None:
    path = tmp_path / requestlog.FILE_NAME
    with pytest.raises(ValueError, match="no request log here"):
        requestlog.read(path)
    requestlog.rotated(path, 1).write_text(json.dumps({"a": 1}) + "\n{oops\n")
    path.write_text("")
    with pytest.raises(ValueError, match=r"requests.jsonl.1 line 2: not JSON"):
        requestlog.read(path)


META = {"watermarks": {"weather": 100 * HOUR, "outcomes": 90 * HOUR},
        "first_events": {"weather": 10 * HOUR, "outcomes": 12 * HOUR}}  # fmt: skip


def test_stale_rows_are_past_a_watermark_by_more_than_its_limit_or_before_the_first_event():
    found = freshness.sources(META, {"weather": 6, "outcomes": 24})
    times = np.array([101, 106, 107, 115, 200, 11, 50]) * HOUR
    stale = freshness.check(found, times)
    assert stale["weather"].tolist() == [False, False, True, True, True, False, False]
    assert stale["outcomes"].tolist() == [False, False, False, True, True, True, False]
    assert freshness.per_row(stale, len(times)) == [
        [], [], ["weather"], ["outcomes", "weather"], ["outcomes", "weather"], ["outcomes"], []
    ]  # fmt: skip
    row, why = freshness.first_refusal(found, stale, times)
    assert row == 2
    assert why == ("stale features: the prediction time 1970-01-05T11:00:00+00:00 is 7.0 h after "
                   "the weather watermark 1970-01-05T04:00:00+00:00 "
                   "(serve.max_staleness_hours.weather is 6); the store has no weather data "
                   "for it")  # fmt: skip
    assert "before the first outcomes event" in found[0].why(11 * HOUR)
    assert freshness.check(found, np.array([50 * HOUR])) == {}
    assert freshness.check(found, None) == {} and freshness.check((), times) == {}


def test_a_store_source_without_a_limit_is_refused() -> None:
    with pytest.raises(StoreError, match=r"outcomes have no limit: set "
                       r"serve.max_staleness_hours.outcomes"):  # fmt: skip
        freshness.sources(META, {"weather": 6})
    # an older store without first events: only the watermark is checked
    old = freshness.sources({"watermarks": META["watermarks"]}, {"weather": 6, "outcomes": 1})
    assert freshness.check(old, np.array([0])) == {}


GOOD = {"carrier": "UA", "flight": 1712, "origin": "EWR", "dest": "IAH",
        "sched_dep": "2013-12-23T18:04:00", "sched_arr": "21:13"}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"as_of": 0}, "as_of", "must be a date-time string"),
        ({"sched_dep": 1387839840}, "sched_dep", "must be a date-time string"),
        ({"sched_arr": 3600}, "sched_arr", "must be a time of day"),
        ({"flight": "1712"}, "flight", "must be a JSON integer, not str"),
        ({"flight": True}, "flight", "must be a JSON integer, not bool"),
    ],
)
def test_request_types_are_as_strict_as_the_schema(change, field, words) -> None:
    with pytest.raises(ValidationError) as err:
        FlightRequest.model_validate({**GOOD, **change})
    assert err.value.errors()[0]["loc"] == (field,) and words in str(err.value)
    batch = schemas.columnar(FlightRequest, 10)
    with pytest.raises(ValidationError, match=words):
        batch.model_validate({k: [v] for k, v in {**GOOD, **change}.items()})


def test_what_the_schema_allows_is_still_accepted() -> None:
    row = FlightRequest.model_validate({**GOOD, "flight": 1712.0, "as_of": "2013-12-23T16:00Z"})
    assert row.flight == 1712 and row.as_of is not None
    number = schemas.Number | None
    from pydantic import TypeAdapter

    adapter = TypeAdapter(number)
    assert adapter.validate_python(3) == 3.0 and adapter.validate_python(None) is None
    with pytest.raises(ValidationError, match="must be a JSON number, not str"):
        adapter.validate_python("1.5")
    # a CSV's columns are text: the batch scorer says so, and pydantic parses the number
    assert adapter.validate_python("1.5", context={schemas.FROM_TEXT: True}) == 1.5
    text = {schemas.FROM_TEXT: True}
    assert FlightRequest.model_validate({**GOOD, "flight": "1712"}, context=text).flight == 1712
    with pytest.raises(ValidationError, match="must be a date-time string"):
        FlightRequest.model_validate({**GOOD, "as_of": 0}, context={schemas.FROM_TEXT: True})


def test_request_log_module_files_lists_nothing_for_no_log(tmp_path: Path) -> None:
    assert requestlog.files(tmp_path / requestlog.FILE_NAME) == []


def test_the_contract_tests_hook_skips_only_the_rules_json_schema_cannot_express() -> None:
    from .schemathesis_hooks import breaks_a_cross_field_rule as breaks

    batch = {k: [v] for k, v in GOOD.items()}
    assert not breaks(GOOD) and not breaks(batch)
    assert breaks({**batch, "flight": [1, 2]})  # columns of unequal length
    assert breaks({**GOOD, "as_of": "2013-12-23T19:00:00"})  # after the departure
    assert breaks({**batch, "as_of": ["2013-12-23T19:00:00"]})
    assert not breaks({**GOOD, "as_of": 0})  # schema-invalid: generated, and must be refused
    assert not breaks({**GOOD, "flight": "x", "as_of": "2013-12-23T19:00:00"})
    assert not breaks([1, 2]) and not breaks(None)


def test_the_array_histogram_exports_what_prometheus_client_s_histogram_does() -> None:
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from tabstudy.serving.histogram import ArrayHistogram

    values = np.random.default_rng(0).random(1000)
    values[:5] = [0.05, 0.1, 1.0, 0.0, 0.95]  # on the bounds: counted in that bucket (le)
    buckets = [i / 20 for i in range(1, 21)]
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = ArrayHistogram("score", "scores", buckets, ours)
    slow = Histogram("score", "scores", buckets=buckets, registry=theirs)
    fast.observe(values[:600])
    fast.observe(np.append(values[600:990], np.nan))  # NaN is not counted
    for v in values[990:]:  # one row at a time: the small-array path
        fast.observe(np.array([v]))
    fast.observe(np.array([np.nan]))
    for v in values:
        slow.observe(float(v))

    def series(registry: CollectorRegistry) -> list[str]:
        text = generate_latest(registry).decode()
        return [x for x in text.splitlines() if x.startswith("score_") and "_created" not in x]

    assert series(ours) == series(theirs)
    labelled = ArrayHistogram("v", "by variant", [0.5, 1.0], CollectorRegistry(), label="variant",
                              values=("champion", "challenger"))  # fmt: skip
    labelled.observe(np.array([0.2, 0.7]), "champion")
    family = next(iter(labelled.collect()))
    assert {s.labels["variant"] for s in family.samples} == {"champion"}
    with pytest.raises(ValueError, match="'canary' is not one of"):
        labelled.observe(np.array([0.1]), "canary")


def test_occlusion_ranks_the_signal_feature_first_in_one_batched_call() -> None:
    """A model fitted on a table where only ``signal`` carries the outcome: for rows whose
    signal is far from its median, ``signal`` has the largest contribution, the noise features'
    are near 0, and the explanation is the same every time."""
    from sklearn.linear_model import LogisticRegression

    from tabstudy.serving import explain
    from tabstudy.spec import Feature, FeatureSet

    rng = np.random.default_rng(0)
    n = 4000
    x = rng.normal(size=(n, 3))  # signal, noise_a, noise_b
    y = (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    names = ["signal", "noise_a", "noise_b"]
    model = LogisticRegression().fit(x, y)
    calls = []

    def predict(features: dict[str, np.ndarray]) -> np.ndarray:
        calls.append(len(features["signal"]))
        return model.predict_proba(np.column_stack([features[k] for k in names]))[:, 1]

    spec = FeatureSet(tuple(Feature(k, "numeric", "t", "", "") for k in names))
    edges = {k: {"edges": np.quantile(x[:, i], np.linspace(0.1, 0.9, 9)).tolist()}
             for i, k in enumerate(names)}  # fmt: skip
    references = explain.reference_values(spec, {"numeric": edges})
    assert abs(references["signal"] - np.median(x[:, 0])) < 0.05
    for row in x[np.abs(x[:, 0]) > 1][:50]:
        feats = {k: np.array([row[i]]) for i, k in enumerate(names)}
        out = explain.occlusion(feats, references, predict)
        assert out.contributions[0].feature == "signal"
        assert abs(out.contributions[0].contribution) > 0.2
        assert all(abs(c.contribution) < 0.05 for c in out.contributions[1:])
        assert np.sign(out.contributions[0].contribution) == np.sign(row[0] - references["signal"])
        assert out == explain.occlusion(feats, references, predict)  # deterministic
    assert set(calls) == {len(names) + 2}  # the row, one per feature, the baseline: one call
    top = explain.occlusion(feats, references, predict, top=1)
    assert len(top.contributions) == 1 and top.probability == out.probability


def test_reference_values_of_a_categorical_and_of_a_feature_without_reference() -> None:
    from tabstudy.serving import explain
    from tabstudy.spec import MISSING_CATEGORY, Feature, FeatureSet

    spec = FeatureSet((Feature("c", "categorical", "t", "", ""), Feature("x", "numeric", "t", "",
                       ""), Feature("d", "categorical", "t", "", "")))  # fmt: skip
    values = explain.reference_values(spec, {"categorical": {"c": {"a": 0.2, "b": 0.8}}})
    assert values["c"] == "b" and np.isnan(values["x"]) and values["d"] == MISSING_CATEGORY


def test_log_lines_write_feature_arrays_as_json_nan_as_null(tmp_path) -> None:
    """The handler puts the feature arrays in the record as they are; the writer encodes them:
    floats (a column slice too) with NaN as null, object arrays as lists, dates as ``str``."""
    from datetime import datetime, time

    wx = np.array([[1.5, np.nan], [2.0, 3.0]])
    record = {"features": {"wx": wx[:, 1], "age": np.array([1.5, np.inf]),
                           "carrier": np.array(["UA", None], dtype=object)},
              "probability": np.array([0.25, 0.5]), "count": np.int64(2),
              "request": {"sched_dep": [datetime(2013, 12, 23, 18, 4)],
                          "sched_arr": [time(21, 13)]}}  # fmt: skip
    log = requestlog.RequestLog(tmp_path)
    log.write([record])
    log.close()
    line = (tmp_path / requestlog.FILE_NAME).read_text()
    assert json.loads(line) == {
        "features": {"wx": [None, 3.0], "age": [1.5, None], "carrier": ["UA", None]},
        "probability": [0.25, 0.5], "count": 2,
        "request": {"sched_dep": ["2013-12-23 18:04:00"], "sched_arr": ["21:13:00"]},
    }  # fmt: skip
    assert "NaN" not in line and line.endswith("}\n")


def test_a_batch_looks_up_each_distinct_key_once_with_the_row_by_row_answer() -> None:
    from tabstudy.studies.flights.online import FEW, _key, _lookup

    rng = np.random.default_rng(0)
    n = 5 * FEW
    columns = [rng.choice(["EWR", "JFK", "LGA"], n).astype(object),
               rng.choice(["2013-12-23", "2013-12-24"], n).astype(object),
               rng.integers(5, 23, n)]  # fmt: skip
    table = {k: i for i, k in enumerate(sorted(set(_key(columns))))}
    del table[next(iter(table))]  # one key the table does not hold
    expected = [table.get(k, -1) for k in _key(columns)]
    assert _lookup(columns, table, -1) == expected
    assert _lookup([c[:FEW] for c in columns], table, -1) == expected[:FEW]
    assert -1 in expected


def test_request_keys_of_a_batch_equal_those_of_its_rows() -> None:
    from datetime import datetime

    from tabstudy.serving import rollout

    rows = {"carrier": ["UA", None, "B6"], "flight": [1712, 3, 1712],
            "sched_dep": [datetime(2013, 1, 1, 5), None, datetime(2013, 1, 1, 5, 30)]}  # fmt: skip
    one = [rollout.request_keys({k: [v[i]] for k, v in rows.items()}, list(rows))[0]
           for i in range(3)]  # fmt: skip
    assert one == ["UA|1712|2013-01-01T05:00:00", "|3|", "B6|1712|2013-01-01T05:30:00"]
    many = rollout.request_keys({k: v * rollout.FEW for k, v in rows.items()}, list(rows))
    assert many == one * rollout.FEW


def test_a_batch_column_checked_at_once_answers_as_item_by_item(monkeypatch) -> None:
    """The batch model checks a column's refused types in one scan (:func:`schemas._at_once`);
    on random corrupted batches it accepts, converts and refuses exactly what item-by-item
    validation does, with the same errors and locations, and the same schema."""
    import random

    fast = schemas.columnar(FlightRequest, 50)
    monkeypatch.setattr(schemas, "_refusals", lambda metadata: ((), list(metadata)))
    slow = schemas.columnar(FlightRequest, 50)
    assert fast.model_json_schema() == slow.model_json_schema()
    example = FlightRequest.model_config["json_schema_extra"]["examples"][0]
    rng = random.Random(7)
    bad = [0, 1.5, "3", True, None, "2013-13-01T00:00", "25:00", "", 99999, 3.0, [1], "21:13"]

    def answer(model: type, body: dict) -> tuple[str, str]:
        try:
            return "ok", repr(model.model_validate(body).columns())
        except ValidationError as err:
            return "error", json.dumps(err.errors(include_url=False), default=str)

    outcomes = set()
    for _ in range(600):
        body = {k: [v] * 20 for k, v in example.items()}
        for _ in range(rng.randint(0, 3)):
            column = rng.choice(list(body))
            body[column][rng.randrange(20)] = rng.choice(bad)
        if rng.random() < 0.1:
            body[rng.choice(list(body))] = body["dest"][:3]  # unequal lengths
        if rng.random() < 0.05:
            body[rng.choice(list(body))] = []  # too short
        if rng.random() < 0.05:
            body[rng.choice(list(body))] = body["carrier"] * 3  # past max_rows
        if rng.random() < 0.05:
            body = {k: v * 3 for k, v in body.items()}  # every column past max_rows
        got = answer(fast, body)
        assert got == answer(slow, body), body
        outcomes.add(got[0])
    assert outcomes == {"ok", "error"}


def test_the_app_factory_only_wires_the_router_and_metrics_know_its_paths(tmp_path) -> None:
    """Every API path comes from :mod:`tabstudy.serving.routes` (nothing is declared in the
    factory), and ``/metrics`` labels exactly those paths (no second list to keep in step)."""
    from pydantic import BaseModel

    from tabstudy.serving import app as app_module
    from tabstudy.serving.app import ServeSettings, create_app
    from tabstudy.serving.guard import Guard

    class Row(BaseModel):
        x: float | None = None

    settings = ServeSettings(plan=lambda: None, request_model=Row, online=lambda b: None,  # type: ignore[arg-type,return-value]
                             log_dir=tmp_path, runtime="auto", max_body_bytes=1000,
                             max_batch_rows=10)  # fmt: skip
    app = create_app(settings)  # nothing loads before the lifespan
    api = {"/livez", "/readyz", "/v1/metadata", "/v1/admin/reload", "/v1/predict",
           "/v1/predict/batch", "/v1/explain", "/metrics"}  # fmt: skip
    docs = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    assert {r.path for r in app.routes} - docs == api
    guard = next(m for m in app.user_middleware if m.cls is Guard)
    assert guard.kwargs["metrics"].paths == api
    assert "@app." not in Path(app_module.__file__).read_text()
