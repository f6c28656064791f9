"""The stack's dashboard and alarms plot metrics the controller emits, the README shows
each widget, and jobctl dashboard prints where to find it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jobctl_cli import cli
from jobctl_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]


def emitted() -> set[str]:
    """Every metric name the controller emits (count("Name", …))."""
    source = "\n".join(path.read_text() for path in (ROOT / "src" / "jobctl").rglob("*.py"))
    return set(re.findall(r'count\(\s*"([A-Za-z]+)"', source))


def widgets() -> list[dict[str, Any]]:
    body = load_template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return list(json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"])


def plotted(widget: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for metric in widget["properties"]["metrics"]:
        if isinstance(metric[0], dict):
            names.update(re.findall(r'MetricName=\\?"([A-Za-z]+)', metric[0]["expression"]))
        elif metric[0] == "jobctl":
            names.add(metric[1])
    return names


def test_every_jobctl_metric_the_dashboard_plots_is_one_the_controller_emits() -> None:
    shown = set().union(*(plotted(widget) for widget in widgets()))
    assert shown
    assert shown <= emitted()


def test_every_jobctl_alarm_watches_a_metric_the_controller_emits() -> None:
    resources = load_template()["Resources"].values()
    alarms = [r["Properties"] for r in resources if r["Type"] == "AWS::CloudWatch::Alarm"]
    ours = {alarm["MetricName"] for alarm in alarms if alarm["Namespace"] == "jobctl"}
    assert {"SweepsFinished", "JobsStuck", "SweepStepsFailed"} <= ours <= emitted()


def test_the_readme_shows_every_widget_of_the_dashboard() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Dashboard", 1)[1].split("\n### ", 1)[0]
    for widget in widgets():
        assert widget["properties"]["title"] in section


def test_the_dashboard_url_is_a_stack_output() -> None:
    assert "DashboardUrl" in load_template()["Outputs"]


class Stack:
    def __init__(self, url: str | None) -> None:
        self.resources = type("Resources", (), {"dashboard_url": url})()


@pytest.mark.parametrize("url", ["https://example/dashboards:name=jobctl", None])
def test_jobctl_dashboard_prints_the_url_or_says_there_is_none(
    monkeypatch: pytest.MonkeyPatch, url: str | None
) -> None:
    monkeypatch.setattr(cli, "_client", lambda ctx: Stack(url))
    result = CliRunner().invoke(cli.main, ["dashboard"])
    if url:
        assert (result.exit_code, result.output) == (0, url + "\n")
    else:
        assert result.exit_code == 1
        assert "no dashboard known" in result.output
