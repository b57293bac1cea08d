"""The SSM Command document the checks run through: one `case` over the described services
and phases (`check`: one reading; `verify`: the reading after a restart, waited for as the
runbook says; `report`: an ingestion's equipment report), each branch the description's own
command (run as the runbook types it: `host_shell`), the service and phase picked by
parameters SSM validates against `allowedValues`.
The functions that only look (service_check, the probe) may send this document and nothing
else: on a host they can run a check, never a restart (AWS-RunShellScript, which runs
anything, is the restarting function's only)."""

from __future__ import annotations

from typing import Any

from .service_spec import ServiceSpec, load

NAME = "selfheal-ServiceCheck"


PHASES = ("check", "verify", "report")
#: `expect`: equipment ids from the report's own database (never an event's text).
EXPECT_PATTERN = r"^[A-Za-z0-9_.,-]{0,500}$"


def checked(specs: dict[str, ServiceSpec] | None = None) -> dict[str, ServiceSpec]:
    specs = load() if specs is None else specs
    return {n: s for n, s in sorted(specs.items()) if s.check is not None}


def commands(spec: ServiceSpec) -> dict[str, str]:
    """The phases a service has, and the command each runs."""
    assert spec.check is not None
    out = {"check": spec.check.command, "verify": spec.check.verifyCommand or spec.check.command}
    if spec.report is not None:
        out["report"] = spec.report.command
    return out


def content(specs: dict[str, ServiceSpec] | None = None) -> dict[str, Any]:
    """The document (schema 2.2): `service` and `phase` choose the branch; nothing else
    varies."""
    services = checked(specs)
    lines = ['case "{{ service }}/{{ phase }}" in']
    for name, spec in services.items():
        assert spec.ssm is not None
        for phase, command in commands(spec).items():
            first, *rest = spec.ssm.shell([command])
            lines += [f"  {name}/{phase})", f"    {first}", *rest, "    ;;"]
    lines += ['  *) echo "no {{ phase }} for {{ service }}" >&2; exit 2 ;;', "esac"]
    return {
        "schemaVersion": "2.2",
        "description": "selfheal: run the runbook's read-only check of one described service",
        "parameters": {
            "service": {
                "type": "String",
                "description": "A described service (services/*.json) with a host check",
                "allowedValues": list(services),
            },
            "phase": {
                "type": "String",
                "description": "check (one reading), verify (after a restart), report",
                "allowedValues": list(PHASES),
                "default": "check",
            },
            "expect": {
                "type": "String",
                "description": "report: equipment ids (comma list) to wait for first",
                "allowedPattern": EXPECT_PATTERN,
                "default": "",
            },
        },
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "check",
                "inputs": {"runCommand": lines, "timeoutSeconds": "120"},
            }
        ],
    }
