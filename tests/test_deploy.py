"""Operations files: the Prometheus alert rules pass ``promtool check rules`` and their unit tests
(``promtool test rules``: series that fire and series that do not), and the Grafana dashboard is
well formed and queries only the service's metrics (checked against a running service in
test_serving)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .conftest import REPO

RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts.test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "tabstudy.json"
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
            "histogram": ("_bucket", "_sum", "_count", "_created")}  # fmt: skip


def queried_metrics() -> set[str]:
    """Every tabstudy metric the dashboard's panels and the alert rules query."""
    exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
    rules = yaml.safe_load(RULES.read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return {m for e in exprs for m in re.findall(r"\btabstudy_[a-z_]+\b", e)}


def exported_metrics(exposition: str) -> set[str]:
    """The sample names a /metrics text can carry, from its families' types (a labelled
    family with no sample yet still counts)."""
    return {f.name + s for f in text_string_to_metric_families(exposition)
            for s in SUFFIXES.get(f.type, ("",))}  # fmt: skip


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip(
            "promtool is not installed: the alert-rule tests DID NOT RUN "
            "(apt-get install prometheus gives it; .ci/run installs it)"
        )
    return found


def test_the_alert_rules_are_valid() -> None:
    out = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 6 rules found" in out.stdout


def test_the_alert_rules_fire_on_bad_series_and_stay_quiet_on_good_ones() -> None:
    out = subprocess.run([_promtool(), "test", "rules", RULE_TESTS.name], capture_output=True,
                         text=True, cwd=RULE_TESTS.parent)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    tested = {t["alertname"] for c in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for t in c["alert_rule_test"]}  # fmt: skip
    rules = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert tested == rules  # every rule has a unit test


def test_the_dashboard_is_well_formed() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "tabstudy-serving"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in dash["panels"]:
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel
        assert panel["datasource"]["uid"] == "${datasource}"
    assert {"datasource", "job"} <= {v["name"] for v in dash["templating"]["list"]}


def test_exported_names_follow_the_metric_types() -> None:
    text = ("# HELP a_x x\n# TYPE a_x counter\n# HELP b b\n# TYPE b histogram\n"
            'b_bucket{le="+Inf"} 1.0\nb_count 1.0\nb_sum 0.5\n')  # fmt: skip
    assert exported_metrics(text) == {"a_x_total", "a_x_created", "b_bucket", "b_sum", "b_count",
                                      "b_created"}  # fmt: skip
    assert {"tabstudy_requests_total", "tabstudy_request_seconds_bucket"} <= queried_metrics()
