"""monitoring/: the Prometheus config, the alert rules (promtool check + promtool unit tests)
and the Grafana dashboard, checked against the metrics the worker declares."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

from agent.observability import metrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
PROMTOOL = shutil.which("promtool")
METRIC = re.compile(r"\bphone_agent_[a-z_]+")


def exposed_names() -> set[str]:
    """Every series name the worker can expose, with the suffixes of each type."""
    names: set[str] = set()
    for family in vars(metrics).values():
        if not isinstance(family, MetricWrapperBase):
            continue
        if isinstance(family, Counter):
            names.add(f"{family._name}_total")
        elif isinstance(family, Histogram):
            names.update(f"{family._name}{s}" for s in ("_bucket", "_count", "_sum"))
        else:
            names.add(family._name)
    return names


def dashboard_exprs() -> list[tuple[str, str]]:
    dash = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None, "promtool is missing: the Debian package prometheus " \
        "(scripts/install.sh installs it)"
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_rules_and_config_pass_promtool_check() -> None:
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 9 rules found" in rules.stdout
    config = promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_alert_rules_unit_tests_pass() -> None:
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_broken_threshold_fails_the_rule_tests(tmp_path: Path) -> None:
    """The unit tests can fail: with p95 compared to 20 s instead of 2 s they do."""
    broken = (MONITORING / "alerts.yml").read_text().replace(
        "rate(phone_agent_turn_latency_seconds_bucket[5m])))\n          > 2\n",
        "rate(phone_agent_turn_latency_seconds_bucket[5m])))\n          > 20\n")
    assert broken != (MONITORING / "alerts.yml").read_text()
    (tmp_path / "alerts.yml").write_text(broken)
    tests = (MONITORING / "alerts_test.yml").read_text()
    (tmp_path / "alerts_test.yml").write_text(tests)
    result = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0 and "HighTurnLatency" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_test_case() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert alerts == {"HighTurnLatency", "CriticalTurnLatency", "HighErrorRate",
                      "DroppedCallsSpike", "STTProviderDown", "TTSProviderDown",
                      "CapacityWarning", "HighEscalationRate", "ProviderFailover"}
    cases = yaml.safe_load((MONITORING / "alerts_test.yml").read_text())["tests"]
    fired = {c["alertname"] for t in cases for c in t["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["alertname"] for t in cases for c in t["alert_rule_test"] if not c["exp_alerts"]}
    assert fired == alerts and quiet == alerts


def test_rules_and_dashboard_use_only_declared_metrics() -> None:
    declared = exposed_names()
    rules_text = (MONITORING / "alerts.yml").read_text()
    used = set(METRIC.findall(rules_text))
    for title, expr in dashboard_exprs():
        found = set(METRIC.findall(expr))
        assert found, f"panel {title!r} queries no phone_agent metric: {expr}"
        used |= found
    assert used <= declared, f"undeclared: {sorted(used - declared)}"


def test_dashboard_has_the_panels_operators_need() -> None:
    titles = " | ".join(title for title, _ in dashboard_exprs()).lower()
    for needed in ("active calls", "turn latency p50 / p95 / p99", "calls per minute",
                   "error rate", "stage latency heatmap", "barge-in", "escalation",
                   "tool outcomes", "failover"):
        assert needed in titles, needed
    dash = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dash["__inputs"][0]["pluginId"] == "prometheus"  # importable with a data source
    kinds = {p["type"] for p in dash["panels"]}
    assert "heatmap" in kinds and "timeseries" in kinds and "stat" in kinds


def test_scrape_targets_match_the_configured_ports() -> None:
    from agent.config import setting_default
    from devstack import services as svc

    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"][0]
               for j in config["scrape_configs"]}
    assert targets == {
        "worker": f"127.0.0.1:{setting_default('METRICS_PORT')}",
        "livekit-server": f"127.0.0.1:{svc.LIVEKIT_METRICS_PORT}",
        "livekit-sip": f"127.0.0.1:{svc.SIP_METRICS_PORT}",
    }
    assert int(setting_default("METRICS_PORT")) == svc.WORKER_METRICS_PORT
    livekit = yaml.safe_load((ROOT / "livekit.yaml").read_text())
    bridge = yaml.safe_load((ROOT / "sip" / "livekit-sip.yaml").read_text())
    assert livekit["prometheus"]["port"] == svc.LIVEKIT_METRICS_PORT
    assert bridge["prometheus_port"] == svc.SIP_METRICS_PORT
    # Nothing is sent anywhere: no remote write, no Alertmanager.
    assert not {"remote_write", "remote_read", "alerting"} & set(config)
