"""D2's trigger exists in an account: the stacks create one `{FunctionName}-critical` alarm
(`events/alarms/critical-function-errors.json`) per function `config/critical_failure.json`
lists as critical, from `cdk.json`'s alarm instances; the two lists cannot drift apart."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_critical_function_has_its_alarm_instance_and_no_other() -> None:
    critical = json.loads((ROOT / "config" / "critical_failure.json").read_text())["functions"]
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    instances = context["selfheal:alarmInstances"]["critical-function-errors"]
    assert sorted(i["FunctionName"] for i in instances) == sorted(critical)
