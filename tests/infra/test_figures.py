"""The live figures in the stack: every function knows its stack (the metrics' one dimension),
the alarms and the dashboard name only metrics the code writes (chalicelib/metrics.COUNTERS and GAUGES), in
its namespace and with that dimension."""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib import metrics
from tests.infra.test_template import FUNCTIONS, props, resources

STACK = {"Name": "stack", "Value": {"Ref": "AWS::StackName"}}


def test_every_function_knows_its_stack(template: dict[str, Any]) -> None:
    for name in FUNCTIONS:
        assert props(template, name)["Environment"]["Variables"]["STACK_NAME"] == {"Ref": "AWS::StackName"}, name


def _business_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    if "MetricName" in alarm:
        metric = {"Namespace": alarm["Namespace"], "MetricName": alarm["MetricName"]}
        return [{**metric, "Dimensions": alarm.get("Dimensions", [])}]
    return [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]


def test_the_business_alarms_watch_what_the_code_writes(template: dict[str, Any]) -> None:
    watched = {}
    for logical_id, resource in resources(template).items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        for metric in _business_metrics(resource["Properties"]):
            if metric["Namespace"] == metrics.NAMESPACE:
                assert metric["Dimensions"] == [STACK], logical_id
                watched.setdefault(logical_id, set()).add(metric["MetricName"])
    assert watched == {
        "BusyAfterConflicts": {"ConflictsSpent"},
        "ThrottledShare": {"Throttled", "Holds", "Bookings"},
        "RelayLag": {"RelayLagSeconds"},
        "SmsRefused": {"SmsRefused"},
    }
    assert set().union(*watched.values()) <= {*metrics.COUNTERS, *metrics.GAUGES}


def test_the_dashboard_shows_every_figure(template: dict[str, Any]) -> None:
    body = props(template, "FiguresDashboard")["DashboardBody"]["Fn::Sub"]
    filled = re.sub(r"\$\{([A-Za-z0-9:.]+)\}", "x", body)
    dashboard = json.loads(filled)
    shown = set()
    for widget in dashboard["widgets"]:
        if widget["type"] != "metric":
            for alarm in widget["properties"]["alarms"]:
                assert alarm == "x"
            continue
        namespace = None
        for line in widget["properties"]["metrics"]:
            namespace = line[0] if line[0] != "." else namespace
            assert namespace == metrics.NAMESPACE and line[2] in ("stack", ".")
            shown.add(line[1])
    assert shown == {*metrics.COUNTERS, *metrics.GAUGES}
    for name in re.findall(r"\$\{([A-Za-z0-9]+)\.Arn\}", body):
        assert resources(template)[name]["Type"] == "AWS::CloudWatch::Alarm", name
