"""/metrics without a database or a server: the collector over a snapshot, read back with the
client library's own parsers; and the alert rules and Grafana dashboard of deploy/, whose every
ingest_ metric must exist in the exposition (no Prometheus or Grafana runs here). The HTTP route
and promtool: tests/integration/test_metrics_http.py, test_promtool.py."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import yaml
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from spark_app.commands.dashboard import snapshot
from spark_app.commands.dashboard.metrics import MetricsEndpoint, SnapshotCollector
from spark_app.commands.dashboard.poller import SnapshotStore
from spark_app.commands.dashboard.snapshot import Fetched, build_snapshot, stream_state
from spark_app.commands.health import Limits
from spark_app.common.batch_metrics import LastBatch, LastRun
from tests.conftest import REPO
from tests.dashboard_samples import NOW
from tests.metrics_samples import (
    ALERTS,
    EXPECTED_TYPES,
    GRAFANA,
    PROMETHEUS,
    PROMETHEUS_ACCEPT,
    Clock,
    endpoint,
    fetched,
)

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def classic(metrics: MetricsEndpoint) -> dict[str, Metric]:
    body, kind = metrics.render(None)
    assert kind == "text/plain; version=0.0.4; charset=utf-8"
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def values(family: Metric) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of one family."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}


def value(family: Metric, sample: str | None = None, **labels: str) -> float:
    """The value of one sample (the family's own name, or `sample`), `sink` mysql by default."""
    key = tuple(sorted({"sink": "mysql", **labels}.items()))
    return values(family)[(sample or family.name, key)]


def exposition_names() -> set[str]:
    """Every sample name of the exposition with every part present (suffixes included)."""
    metrics, _, _ = endpoint()
    return {s.name for family in classic(metrics).values() for s in family.samples}


# --- the collector ---------------------------------------------------------------------------


def test_names_types_and_help_of_the_classic_exposition() -> None:
    families = classic(endpoint()[0])
    assert {name: family.type for name, family in families.items()} == EXPECTED_TYPES
    for family in families.values():
        assert family.documentation.strip(), f"{family.name} has no help text"
        assert family.name.startswith("ingest_")
        assert all(sample.labels["sink"] == "mysql" for sample in family.samples)


def test_counters_are_the_database_totals() -> None:
    families = classic(endpoint()[0])

    def total(name: str, **labels: str) -> float:
        return value(families[name], f"{name}_total", **labels)

    assert total("ingest_batches") == 4
    assert total("ingest_files_committed") == 5
    assert total("ingest_rows_read") == 84
    assert total("ingest_rows_written") == 70
    assert total("ingest_rows_duplicate") == 3
    assert total("ingest_batch_retries") == 2
    rejected = values(families["ingest_rows_rejected"])
    assert {dict(labels)["reason"]: v for (_, labels), v in rejected.items()} == {
        "bad_price": 2,
        "missing_user_id": 7,
        "sink_refused": 2,
    }


def test_refused_rows_are_a_series_before_the_first_one() -> None:
    families = classic(endpoint(fetched(reject_reasons=[("bad_price", 2)]))[0])
    rejected = families["ingest_rows_rejected"]
    assert value(rejected, "ingest_rows_rejected_total", reason="sink_refused") == 0
    assert value(rejected, "ingest_rows_rejected_total", reason="bad_price") == 2


def test_histograms_are_cumulative_over_every_batch() -> None:
    families = classic(endpoint()[0])
    duration = families["ingest_batch_duration_seconds"]
    buckets = {s.labels["le"]: s.value for s in duration.samples if s.name.endswith("_bucket")}
    assert list(buckets) == [repr(b) for b in snapshot.DURATION_BUCKETS_S] + ["+Inf"]
    assert (buckets["0.05"], buckets["0.1"], buckets["0.25"], buckets["300.0"]) == (1, 1, 3, 3)
    assert buckets["+Inf"] == 4
    assert value(duration, "ingest_batch_duration_seconds_count") == 4
    assert value(duration, "ingest_batch_duration_seconds_sum") == pytest.approx(400.44)
    freshness = families["ingest_freshness_seconds"]
    fresh = {s.labels["le"]: s.value for s in freshness.samples if s.name.endswith("_bucket")}
    assert (fresh["0.5"], fresh["5.0"], fresh["3600.0"], fresh["+Inf"]) == (1, 2, 2, 3)
    assert value(freshness, "ingest_freshness_seconds_sum") == pytest.approx(7204.3)


def test_state_backlog_and_ages() -> None:
    families = classic(endpoint()[0])
    states = {s.labels["state"]: s.value for s in families["ingest_stream_state"].samples}
    assert states == {"running": 1, "idle": 0, "stopped": 0, "stuck": 0}
    assert value(families["ingest_healthy"]) == 1
    assert value(families["ingest_files_waiting"]) == 2
    assert value(families["ingest_last_commit_age_seconds"]) == pytest.approx(5.0)
    assert value(families["ingest_run_heartbeat_age_seconds"]) == pytest.approx(10.0)
    assert value(families["ingest_batch_pending_seconds"]) == pytest.approx(12.0)
    assert value(families["ingest_dashboard_poll_success"]) == 1
    assert value(families["ingest_dashboard_poll_duration_seconds"]) == pytest.approx(0.0125)
    assert value(families["ingest_dashboard_snapshot_age_seconds"]) == 0


def test_openmetrics_when_asked_ends_with_eof_and_names_units() -> None:
    metrics, _, _ = endpoint()
    for accept in (OPENMETRICS, PROMETHEUS_ACCEPT):
        body, kind = metrics.render(accept)
        assert kind.startswith("application/openmetrics-text; version=1.0.0")
        text = body.decode()
        assert text.endswith("# EOF\n")
        families = {family.name: family for family in openmetrics_families(text)}
        assert {name: family.type for name, family in families.items()} == EXPECTED_TYPES
        for name, family in families.items():
            assert family.documentation.strip(), name
            assert family.unit == ("seconds" if name.endswith("_seconds") else ""), name
        assert value(families["ingest_rows_written"], "ingest_rows_written_total") == 70


def test_a_failed_poll_keeps_the_figures_and_ages_them() -> None:
    metrics, store, clock = endpoint()
    clock.now += 30
    store.publish(None, {"ok": False, "error": "database unreachable", "poll_ms": 5000.0})
    families = classic(metrics)
    assert value(families["ingest_dashboard_poll_success"]) == 0
    assert value(families["ingest_dashboard_snapshot_age_seconds"]) == 30
    assert value(families["ingest_last_commit_age_seconds"]) == pytest.approx(35.0)
    assert value(families["ingest_run_heartbeat_age_seconds"]) == pytest.approx(40.0)
    assert value(families["ingest_batch_pending_seconds"]) == pytest.approx(42.0)
    assert value(families["ingest_rows_written"], "ingest_rows_written_total") == 70


def test_before_the_first_poll_only_its_failure() -> None:
    clock = Clock()
    store = SnapshotStore(monotonic=clock)
    metrics = MetricsEndpoint(SnapshotCollector(store, "postgresql", monotonic=clock))
    body, _ = metrics.render(None)
    (family,) = text_string_to_metric_families(body.decode())
    assert family.name == "ingest_dashboard_poll_success"
    assert values(family) == {("ingest_dashboard_poll_success", (("sink", "postgresql"),)): 0}


def test_no_pending_batch_is_zero_and_no_checkpoint_no_series() -> None:
    families = classic(endpoint(fetched(pending=None))[0])
    assert value(families["ingest_batch_pending_seconds"]) == 0
    families = classic(endpoint(fetched(checkpoint_read=False, pending=None))[0])
    assert "ingest_batch_pending_seconds" not in families


def test_absent_tables_and_folder_give_no_series() -> None:
    families = classic(endpoint(Fetched())[0])
    assert set(families) == {
        "ingest_dashboard_poll_success",
        "ingest_dashboard_poll_duration_seconds",
        "ingest_dashboard_snapshot_age_seconds",
        "ingest_stream_state",
        "ingest_healthy",
    }
    assert value(families["ingest_stream_state"], state="stopped") == 1


# --- the stream's state (pure) ---------------------------------------------------------------

LIVE = LastRun("r", "running", 10.0)
LIMITS = Limits(max_age=300.0, max_heartbeat_age=180.0)


@pytest.mark.parametrize(
    ("last", "waiting", "run", "started", "state"),
    [
        (LastBatch(5, 6), 0, None, None, "stopped"),  # never ran
        (LastBatch(5, 6), 0, LastRun("r", "finished", 1.0), 3600.0, "stopped"),
        (LastBatch(5, 6), 0, LastRun("r", "running", 181.0), 3600.0, "stopped"),  # silent
        (LastBatch(5, 6), 3, LIVE, 3600.0, "running"),
        (LastBatch(900, 901), 0, LIVE, 3600.0, "idle"),
        (None, 0, LIVE, 3600.0, "idle"),
        (LastBatch(900, 901), 3, LIVE, 3600.0, "stuck"),
        (None, 3, LIVE, 3600.0, "stuck"),  # never committed in an hour
        (LastBatch(900, 901), None, LIVE, 3600.0, "stuck"),  # no --input-dir: as the verdict
        (LastBatch(900, 901), 3, LIVE, 60.0, "running"),  # restarted a minute ago
        (None, 3, LIVE, None, "stuck"),
    ],
)
def test_stream_state(
    last: LastBatch | None, waiting: int | None, run: LastRun | None, started: float | None,
    state: str,
) -> None:  # fmt: skip
    assert stream_state(last, waiting, run, started, LIMITS) == state


def test_stream_part_of_the_snapshot() -> None:
    part = build_snapshot(fetched(), NOW)["stream"]
    assert part == {"state": "running", "run_started_s_ago": 3600.0}
    old_record = ("20250301_120000", "running", NOW - timedelta(seconds=10))
    assert build_snapshot(fetched(last_run=old_record), NOW)["stream"]["run_started_s_ago"] is None


def test_distributions_part_of_the_snapshot() -> None:
    part = build_snapshot(fetched(), NOW)["distributions"]
    assert part["batch_duration_s"]["count"] == 4
    assert part["batch_duration_s"]["sum"] == 400.44
    assert part["batch_duration_s"]["buckets"][:3] == [[0.05, 1], [0.1, 1], [0.25, 3]]
    assert part["freshness_s"] == {
        "buckets": [[bound, 1 if bound < 5 else 2] for bound in snapshot.FRESHNESS_BUCKETS_S],
        "count": 3,
        "sum": 7204.3,
    }
    json.dumps(part, allow_nan=False)  # as the poller serialises it
    assert build_snapshot(fetched(distributions=None), NOW)["distributions"] is None


# --- the alert rules, the Grafana dashboard, the docs ----------------------------------------

METRIC = re.compile(r"\bingest_[a-z0-9_]+")
# Suffixes PromQL may add to a histogram or counter family's own name.
SUFFIXES = ("", "_total", "_bucket", "_sum", "_count")


def grafana_expressions() -> list[str]:
    dashboard = json.loads((GRAFANA / "dashboards" / "ingest.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels
    expressions = [target["expr"] for panel in panels for target in panel["targets"]]
    expressions += [v["definition"] for v in dashboard["templating"]["list"]]
    return expressions


def test_alert_rules_load_and_use_only_exposed_metrics() -> None:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    names = {rule["alert"] for rule in rules}
    assert {
        "IngestStreamNotRunning",
        "IngestBatchStuck",
        "IngestNoCommitWhileFilesWait",
        "IngestFreshnessHigh",
        "IngestRejectedShareHigh",
        "IngestDashboardPollFailing",
    } <= names
    exposed = exposition_names()
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        used = set(METRIC.findall(rule["expr"]))
        assert used <= exposed, f"{rule['alert']}: {sorted(used - exposed)} not exposed"
    assert len(names) == len(rules)


def test_grafana_dashboard_loads_and_uses_only_exposed_metrics() -> None:
    exposed = exposition_names()
    expressions = grafana_expressions()
    used = {name for expr in expressions for name in METRIC.findall(expr)}
    assert used and used <= exposed, sorted(used - exposed)
    dashboard = json.loads((GRAFANA / "dashboards" / "ingest.json").read_text())
    (source,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    uids = {p["datasource"]["uid"] for p in dashboard["panels"] if "datasource" in p}
    assert uids == {source["uid"]}
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_every_family_is_documented() -> None:
    exposed = exposition_names()
    families = set(EXPECTED_TYPES)
    assert all(any(f"{f}{s}" in exposed for s in SUFFIXES) for f in families)
    docs = (REPO / "docs" / "OBSERVABILITY.md").read_text()
    for family in families:
        shown = family + ("_total" if EXPECTED_TYPES[family] == "counter" else "")
        assert f"`{shown}`" in docs, f"{shown} is missing from docs/OBSERVABILITY.md"


def test_prometheus_config_loads_the_rules_and_scrapes_the_dashboard() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert [PROMETHEUS.parent / name for name in config["rule_files"]] == [ALERTS]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["ingest-dashboard"].get("metrics_path", "/metrics") == "/metrics"
