"""The SSM Command document the checks run through: one `case` over the described services,
each branch the description's own check command, the service picked by a parameter SSM
validates against `allowedValues`. The functions that only look (service_check, the probe)
may send this document and nothing else: on a host they can run a check, never a restart
(AWS-RunShellScript, which runs anything, is the restarting function's only)."""

from __future__ import annotations

from typing import Any

from .service_spec import ServiceSpec, load

NAME = "selfheal-ServiceCheck"


def checked(specs: dict[str, ServiceSpec] | None = None) -> dict[str, ServiceSpec]:
    specs = load() if specs is None else specs
    return {n: s for n, s in sorted(specs.items()) if s.check is not None}


def content(specs: dict[str, ServiceSpec] | None = None) -> dict[str, Any]:
    """The document (schema 2.2): `service` chooses the branch; nothing else varies."""
    services = checked(specs)
    lines = ['case "{{ service }}" in']
    for name, spec in services.items():
        assert spec.check is not None
        lines += [f"  {name})", f"    {spec.check.command}", "    ;;"]
    lines += ['  *) echo "no check for {{ service }}" >&2; exit 2 ;;', "esac"]
    return {
        "schemaVersion": "2.2",
        "description": "selfheal: run the runbook's read-only check of one described service",
        "parameters": {
            "service": {
                "type": "String",
                "description": "A described service (services/*.json) with a host check",
                "allowedValues": list(services),
            }
        },
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "check",
                "inputs": {"runCommand": lines, "timeoutSeconds": "60"},
            }
        ],
    }
