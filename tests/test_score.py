"""Batch scoring (:mod:`tabstudy.serving.batch`, ``tabstudy score``).

Unit tests run :func:`batch.score_file` with a fake request model, online features and runtime
on three-row style files (missing values, unicode, empty files, bad rows); the slow test builds
a small table-study bundle, scores a generated file and one ten times its size through the CLI
in subprocesses, and compares their peak resident memory.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel, ConfigDict, Field

from tabstudy.data.readers import DataReadError
from tabstudy.serving import batch, freshness
from tabstudy.serving.features import RowError

from .conftest import REPO, _env, set_params


class Row(BaseModel):
    """One request row of the fake study: a key, a text and an optional number."""

    model_config = ConfigDict(extra="forbid")
    request_key: ClassVar[tuple[str, ...]] = ("id",)

    id: int = Field(ge=1)
    name: str = Field(min_length=1)
    x: float | None = None


class TableRow(BaseModel):
    """A table study's row: no key, every field optional."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    x: float | None = None


class FakeOnline:
    """Features of the rows: the name's length and x (missing as NaN); x == 13 is refused."""

    def __init__(self, model: type[BaseModel] = Row) -> None:
        self.request_model = model

    def features(self, columns: dict[str, list[Any]]) -> dict[str, np.ndarray]:
        n = len(next(iter(columns.values())))
        xs = columns.get("x") or [None] * n
        for i, x in enumerate(xs):
            if x == 13:
                raise RowError("x", i, "x must not be 13")
        names = columns.get("name") or [""] * n
        return {
            "length": np.array([len(s or "") for s in names], dtype="float64"),
            "x": np.array([math.nan if v is None else v for v in xs], dtype="float64"),
        }

    def describe(self) -> dict[str, Any]:
        return {}

    def prediction_times(self, columns: dict[str, list[Any]]) -> np.ndarray | None:
        """None: the fake study has no time (no row is ever stale)."""
        return None


class TimedOnline(FakeOnline):
    """Row ``id`` is predicted at hour ``id`` (epoch seconds)."""

    def prediction_times(self, columns: dict[str, list[Any]]) -> np.ndarray:
        return np.asarray(columns["id"], dtype="int64") * 3600


class FakeRuntime:
    """A row-wise logistic function (batch-size independent, exactly)."""

    name = "fake"

    def predict(self, features: dict[str, np.ndarray]) -> np.ndarray:
        z = np.nan_to_num(features["x"]) + features["length"] / 10 - 1
        return 1 / (1 + np.exp(-z))


class FakeModel:
    runtime = FakeRuntime()
    threshold = 0.5
    version = "abc123def456"
    registry_version: str | None = "v0.0.1"


ROWS = {"id": [1, 2, 3], "name": ["Zoë", "東京 ✈", 'a,b "q"'], "x": [0.5, None, -2.0]}


def _csv(path: Path, header: str, *lines: str) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def _parquet(path: Path, columns: dict[str, list[Any]]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def _write_csv(path: Path, columns: dict[str, list[Any]]) -> Path:
    import pandas as pd

    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def _score(src: Path, dest: Path, chunk_rows: int = 2, online: Any = None) -> batch.ScoreResult:
    return batch.score_file(src, dest, online or FakeOnline(), FakeModel(), chunk_rows)


def _expected(columns: dict[str, list[Any]]) -> np.ndarray:
    feats = FakeOnline().features(columns)
    return FakeRuntime().predict(feats)


def test_csv_and_parquet_give_the_same_predictions(tmp_path) -> None:
    """Missing values and unicode (quoted commas too) survive both readers alike."""
    csv_out, pq_out = tmp_path / "csv.parquet", tmp_path / "pq.parquet"
    result = _score(_write_csv(tmp_path / "rows.csv", ROWS), csv_out)
    _score(_parquet(tmp_path / "rows.parquet", ROWS), pq_out)
    a, b = pq.read_table(csv_out), pq.read_table(pq_out)
    np.testing.assert_array_equal(a["probability"].to_numpy(), b["probability"].to_numpy())
    np.testing.assert_array_equal(a["probability"].to_numpy(), _expected(ROWS))
    assert a.column_names == ["id", "probability", "decision", "model_version", "stale"]
    assert a["decision"].to_pylist() == [p >= 0.5 for p in _expected(ROWS)]
    assert a["id"].to_pylist() == b["id"].to_pylist() == [1, 2, 3]  # CSV text as validated
    assert a.schema == b.schema
    assert a["model_version"].type == pa.dictionary(pa.int32(), pa.string())
    assert set(a["model_version"].to_pylist()) == {"abc123def456"}
    assert result.rows == 3 and result.ignored == ()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "csv.parquet", "pq.parquet", "rows.csv", "rows.parquet"
    ]  # fmt: skip


def test_rows_past_a_store_source_are_named_in_the_stale_column_and_counted(tmp_path) -> None:
    """The service's rule in a file: hour 3 lies an hour past the watermark (hour 2, no slack
    allowed), hours 1 and 2 are fresh; across chunks of 2 rows."""
    events = freshness.Source("events", first=3600, watermark=2 * 3600, max_age=0)
    src = _parquet(tmp_path / "rows.parquet", ROWS)
    result = batch.score_file(src, tmp_path / "o.parquet", TimedOnline(), FakeModel(), 2,
                              sources=[events])  # fmt: skip
    out = pq.read_table(tmp_path / "o.parquet")
    assert out.column_names[-1] == "stale"
    assert out["stale"].to_pylist() == [[], [], ["events"]]
    assert result.stale == {"events": 1}
    plain = _score(src, tmp_path / "p.parquet")
    assert pq.read_table(tmp_path / "p.parquet")["stale"].to_pylist() == [[], [], []]
    assert plain.stale == {}


def test_file_metadata_names_model_and_input(tmp_path) -> None:
    src = _parquet(tmp_path / "rows.parquet", ROWS)
    batch.score_file(src, tmp_path / "out.parquet", FakeOnline(), FakeModel(), 2,
                     metadata={"bundle_sha256": "f" * 64})  # fmt: skip
    meta = {k.decode(): v.decode() for k, v in pq.read_metadata(tmp_path / "out.parquet")
            .metadata.items() if not k.startswith(b"ARROW")}  # fmt: skip
    from tabstudy import artifacts

    assert meta == {
        "model_version": "abc123def456", "registry_version": "v0.0.1", "runtime": "fake",
        "threshold": "0.5", "input_file": "rows.parquet",
        "input_bytes": str(src.stat().st_size), "input_sha256": artifacts.sha256_file(src),
        "bundle_sha256": "f" * 64,
    }  # fmt: skip


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_chunks_of_seven_give_exactly_what_one_chunk_gives(tmp_path, suffix) -> None:
    rng = np.random.default_rng(3)
    n = 53  # 7 does not divide it
    xs = [None if k % 5 == 0 else float(v) for k, v in enumerate(rng.normal(size=n))]
    names = [("é" * k) or "z" for k in rng.integers(0, 9, n)]
    cols = {"id": list(range(1, n + 1)), "name": names, "x": xs}
    src = (_write_csv if suffix == "csv" else _parquet)(tmp_path / f"rows.{suffix}", cols)
    small = _score(src, tmp_path / "seven.parquet", chunk_rows=7)
    _score(src, tmp_path / "one.parquet", chunk_rows=1000)
    a, b = pq.read_table(tmp_path / "seven.parquet"), pq.read_table(tmp_path / "one.parquet")
    assert small.rows == n and a.num_rows == n
    np.testing.assert_array_equal(a["probability"].to_numpy(), b["probability"].to_numpy())
    assert [int(i) for i in a["id"].to_pylist()] == cols["id"]  # row order kept


def test_rechunk_gives_exact_sizes_across_batches() -> None:
    batches = [pa.record_batch({"v": list(range(s, s + k))}) for s, k in [(0, 3), (3, 10), (13, 2)]]
    chunks = list(batch.rechunk(batches, 4))
    assert [c.num_rows for c in chunks] == [4, 4, 4, 3]
    assert pa.concat_tables(chunks)["v"].to_pylist() == list(range(15))


def test_a_table_study_keeps_every_input_column_as_read(tmp_path) -> None:
    """No request key: every column goes through; text stays text ('007', not 7), a number
    field is written as validated (a float), a column the model does not read as read."""
    src = _csv(tmp_path / "t.csv", "name,x,note", "007,1.5,first", ",,", "Ünï,NA,third")
    result = _score(src, tmp_path / "out.parquet", online=FakeOnline(TableRow))
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == [
        "name", "x", "note", "probability", "decision", "model_version", "stale"]  # fmt: skip
    assert out["name"].to_pylist() == ["007", None, "Ünï"]
    assert out["x"].to_pylist() == [1.5, None, None] and out["note"].type == pa.string()
    expected = _expected({"name": ["007", None, "Ünï"], "x": [1.5, None, None]})
    np.testing.assert_array_equal(out["probability"].to_numpy(), expected)
    assert result.ignored == ("note",)


def _refused(src: Path, dest: Path, pattern: str, chunk_rows: int = 2, online: Any = None) -> None:
    """Scoring ``src`` fails with ``pattern`` and leaves ``dest`` as it was, no temp file."""
    dest.write_bytes(b"previous good output")
    before = sorted(p.name for p in dest.parent.iterdir())
    with pytest.raises(DataReadError, match=pattern):
        _score(src, dest, chunk_rows, online)
    assert dest.read_bytes() == b"previous good output"
    assert sorted(p.name for p in dest.parent.iterdir()) == before


def test_a_missing_required_column_is_refused_by_name(tmp_path) -> None:
    src = _csv(tmp_path / "rows.csv", "id,x", "1,2.0")
    _refused(src, tmp_path / "out.parquet", r"rows\.csv: missing column\(s\) name; present: id, x")
    src = _parquet(tmp_path / "rows.parquet", {"id": [1], "x": [2.0]})
    _refused(src, tmp_path / "out.parquet", r"rows\.parquet: missing column\(s\) name")


def test_a_table_file_without_any_model_column_is_refused(tmp_path) -> None:
    src = _csv(tmp_path / "t.csv", "a,b", "1,2")
    _refused(src, tmp_path / "o.parquet", r"none of the model's columns \(name, x\)",
             online=FakeOnline(TableRow))  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        ("csv", r"rows\.csv: line 7, column 'id': Input should be greater than or equal to 1; "
                r"example: '0' \(2 rows of this chunk break a rule\)"),
        ("parquet", r"rows\.parquet: row 6, column 'id': Input should be greater than or "
                    r"equal to 1; example: 0 \(2 rows"),
    ],
)  # fmt: skip
def test_a_bad_value_in_a_later_chunk_names_file_row_column_rule_value(
    tmp_path, kind, pattern
) -> None:
    cols = {"id": [1, 2, 3, 4, 5, 0, -1], "name": ["a"] * 7, "x": [1.0] * 7}
    src = (_write_csv if kind == "csv" else _parquet)(tmp_path / f"rows.{kind}", cols)
    _refused(src, tmp_path / "out.parquet", pattern, chunk_rows=4)


def test_a_missing_required_value_and_a_feature_refusal_name_the_row(tmp_path) -> None:
    src = _csv(tmp_path / "rows.csv", "id,name,x", "1,a,1", "2,,1")
    _refused(src, tmp_path / "o.parquet", r"line 3, column 'name': Input should be a valid "
             r"string; example: None")  # fmt: skip
    src = _csv(tmp_path / "rows.csv", "id,name,x", "1,a,1", "2,b,2", "3,c,13")
    _refused(src, tmp_path / "o.parquet", r"rows\.csv: line 4, column 'x': x must not be 13; "
             r"example: 13\.0")  # fmt: skip


def test_empty_and_header_only_files_are_refused(tmp_path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    _refused(empty, tmp_path / "o.parquet", r"empty\.csv: the file is empty \(0 bytes\)")
    header = _csv(tmp_path / "header.csv", "id,name,x")
    _refused(header, tmp_path / "o.parquet", r"header\.csv: header only, no data rows")
    none = _parquet(tmp_path / "none.parquet", {"id": pa.array([], pa.int64()),
                                                 "name": pa.array([], pa.string())})  # fmt: skip
    _refused(none, tmp_path / "o.parquet", r"none\.parquet: header only, no data rows")


def test_malformed_files_get_the_readers_messages(tmp_path) -> None:
    ragged = _csv(tmp_path / "ragged.csv", "id,name,x", "1,a,1", "2,b,2,extra")
    _refused(ragged, tmp_path / "o.parquet",
             r"ragged\.csv: line 3: 4 field\(s\) where the header has 3")  # fmt: skip
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"id,name,x\n1,a,1\n2,caf\xe9,2\n")
    _refused(latin, tmp_path / "o.parquet",
             r"latin\.csv: not UTF-8 text: byte b'\\xe9' at offset 21 \(line 3\)")  # fmt: skip
    semi = _csv(tmp_path / "semi.csv", "id;name;x", "1;a;1")
    _refused(semi, tmp_path / "o.parquet", r"seems to use ';' as delimiter")
    good = _parquet(tmp_path / "good.parquet", ROWS).read_bytes()
    (tmp_path / "cut.parquet").write_bytes(good[: len(good) // 2])
    _refused(tmp_path / "cut.parquet", tmp_path / "o.parquet",
             r"cut\.parquet: not a readable Parquet file \(truncated or corrupt\)")  # fmt: skip
    (tmp_path / "rows.json").write_text("{}")
    _refused(tmp_path / "rows.json", tmp_path / "o.parquet", r"unsupported file type '\.json'")


def test_an_input_column_named_like_an_output_column_is_refused(tmp_path) -> None:
    src = _csv(tmp_path / "t.csv", "name,probability", "a,0.1")
    _refused(src, tmp_path / "o.parquet", r"probability would clash with the output's",
             online=FakeOnline(TableRow))  # fmt: skip


# --- the CLI over a real (small) table-study bundle -------------------------------------------

CHUNK = 10_000
ROWS_1X = 100_000
NOTE_CHARS = 1_000
"""A wide text column, passed through: the 10x file takes ~1 GB in memory read whole, so a
reader that is not streaming cannot stay within 1.5x of the 1x run (measured: 0.94 GB peak for
1x and 0.95 GB for 10x streamed; 2.0 GB for 10x read whole)."""


@pytest.fixture(scope="module")
def table_work(tmp_path_factory) -> Path:
    """A work dir with a small table-study bundle (features a, b, c), its online store and
    params.yaml set to that study."""
    import pandas as pd

    from tabstudy.data import store
    from tabstudy.models import bundle
    from tabstudy.models import keras_model as km
    from tabstudy.spec import LABEL, Feature, FeatureSet
    from tabstudy.studies.table import TableStudy

    work = tmp_path_factory.mktemp("score")
    (work / "params.yaml").write_bytes((REPO / "params.yaml").read_bytes())
    set_params(work, profile="breast_cancer")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400),
                          "c": rng.choice(["x", "y", "z"], 400).astype(object)})  # fmt: skip
    frame[LABEL] = ((frame["a"] + (frame["c"] == "x")) > 0.5).astype("int8")
    spec = FeatureSet(tuple(Feature(n, k, "t", "row", n) for n, k in
                            [("a", "numeric"), ("b", "numeric"), ("c", "categorical")]),
                      study="file")  # fmt: skip
    km.set_determinism(0)
    pre = km.build_preprocessor(frame, spec)
    core = km.build_core(km.vocab_sizes(pre), km.numeric_width(pre),
                         km.Hyperparameters(units=8, learning_rate=0.05), 0.5)  # fmt: skip
    core.fit(km.encode(pre, frame), km.labels(frame), epochs=2, batch_size=64, verbose=0)
    dest = work / "models" / "bundle"
    bundle.write_bundle(dest, km.export_model(pre, core), spec, {}, {"value": 0.5},
                        {"study": "file"})  # fmt: skip
    TableStudy().materialize(
        {}, None, None, work / "data" / "online" / "store.sqlite", store.bundle_digest(dest)
    )
    return work


def _generate(path: Path, rows: int, group: int = 50_000) -> Path:
    """Rows of a, b, c (some missing) and a wide text ``note``, in row groups of ``group``."""
    rng = np.random.default_rng(rows)
    notes = pa.array([chr(65 + k) * NOTE_CHARS for k in range(5)])
    schema = pa.schema([("a", pa.float64()), ("b", pa.float64()), ("c", pa.string()),
                        ("note", pa.string())])  # fmt: skip
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, group):
            n = min(group, rows - start)
            c = pa.array(rng.choice(["x", "y", "z", "w"], n)).to_pylist()
            writer.write_table(pa.table({
                "a": rng.normal(size=n), "b": rng.normal(size=n),
                "c": [None if k % 97 == 0 else v for k, v in enumerate(c)],
                "note": notes.take(pa.array(rng.integers(0, 5, n))),
            }, schema=schema))  # fmt: skip
    return path


def _run_measured(work: Path, *args: str) -> tuple[int, int, str]:
    """Run the CLI; its exit code, peak RSS (KiB, from wait4) and stderr+stdout."""
    log = work / f"cli-{time.monotonic_ns()}.log"
    env = _env(work) | {"TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(log, "w") as out:
        cmd = [sys.executable, "-m", "tabstudy", "score", *args]
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss, log.read_text()


@pytest.mark.slow
def test_memory_follows_the_chunk_not_the_file(table_work) -> None:
    """Peak RSS scoring a 10x file stays within 1.5x of the 1x file (same chunk size)."""
    peaks = {}
    for times in (1, 10):
        src = _generate(table_work / f"rows{times}x.parquet", ROWS_1X * times)
        out = table_work / f"out{times}x.parquet"
        code, peak, log = _run_measured(table_work, str(src), "-o", str(out), "--chunk-rows",
                                        str(CHUNK), "--model", "workspace", "--runtime",
                                        "saved_model", "--no-progress")  # fmt: skip
        assert code == 0, log
        assert f"scored {ROWS_1X * times:,} rows" in log, log
        meta = pq.read_metadata(out)
        assert meta.num_rows == ROWS_1X * times
        assert meta.metadata[b"runtime"] == b"saved_model"
        peaks[times] = peak
        print(f"{times}x: peak RSS {peak / 1024:.0f} MiB; {log.strip().splitlines()[-1]}")
    assert peaks[10] <= 1.5 * peaks[1], peaks
    first = pq.read_table(table_work / "out1x.parquet", columns=["c", "probability", "decision"])
    assert first.column_names == ["c", "probability", "decision"]
    p = first["probability"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all() and first["decision"].to_pylist() == list(p >= 0.5)


@pytest.mark.slow
def test_the_cli_refuses_a_bad_file_with_one_line_and_exit_1(table_work) -> None:
    src = _csv(table_work / "bad.csv", "a,b,c", "1.0,2.0,x", "oops,2.0,y")
    out = table_work / "bad-out.parquet"
    code, _, log = _run_measured(table_work, str(src), "-o", str(out), "--model", "workspace",
                                 "--runtime", "saved_model")  # fmt: skip
    assert code == 1, log
    rule = "Input should be a valid number, unable to parse string as a number"
    assert f"cannot score: {src}: line 3, column 'a': {rule}; example: 'oops'" in log, log
    assert not out.exists()
