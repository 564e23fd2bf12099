"""The alerting rules: valid for Prometheus, each with a summary and a runbook,
and each proven by promtool's unit tests to fire and to stay silent."""

import shutil

import yaml

from tests.support.promql import MONITORING, alerts, promtool, rule_groups

HERE = MONITORING.parents[2] / "tests/monitoring"


def test_every_alert_says_what_is_wrong_and_what_to_do() -> None:
    for alert in alerts():
        annotations = alert["annotations"]
        assert annotations["summary"] and len(annotations["runbook"]) > 40, alert["alert"]
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["for"], alert["alert"]


def test_every_alert_has_a_case_that_fires_and_one_that_stays_silent() -> None:
    cases = yaml.safe_load((HERE / "rules_test.yaml").read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for name in (alert["alert"] for alert in alerts()):
        outcomes = [bool(check["exp_alerts"]) for check in checks if check["alertname"] == name]
        assert True in outcomes and False in outcomes, name


def test_promtool_unit_tests_pass(tmp_path) -> None:
    # promtool compares annotations too; the cases are about the expressions.
    groups = rule_groups()
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    shutil.copy(HERE / "rules_test.yaml", tmp_path)
    checked = promtool("check", "rules", "rules.yaml", workdir=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "rules_test.yaml", workdir=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr
