"""Service description files (services/*.json): a bad file is refused naming the file and
the field; the six services of runbooks 002-004 load with their dependencies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from selfheal_shared.services import service_spec
from selfheal_shared.services.service_ops import Probe
from selfheal_shared.services.service_recovery import root_cause


def test_the_described_services_load_with_dependencies_in_order() -> None:
    specs = service_spec.load()
    assert sorted(specs) == [
        "aupus-db", "aupus-ingestion", "equivalence-api", "equivalence-worker",
        "inference", "mqtt-broker", "postgres", "redis",
    ]  # fmt: skip
    assert specs["equivalence-api"].dependencies == ["postgres", "redis"]
    assert specs["equivalence-worker"].verify.queueService == "redis"
    ingestion = specs["aupus-ingestion"]
    assert ingestion.check is not None and ingestion.report is not None
    assert ingestion.check.reads == "aupus_health" and ingestion.report.reads == "aupus_equipment"
    assert ingestion.check.verifyCommand and "30" in ingestion.check.verifyCommand
    assert service_spec.for_alarm("aupus-ingestion-stale").name == "aupus-ingestion"


def _write(tmp_path: Path, name: str, **changes: object) -> Path:
    raw = json.loads((service_spec.DIR / "inference.json").read_text()) | changes
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"restartsPerHour": 0}, "inference.json: restartsPerHour: Input should be greater"),
        ({"verify": {"check": "ping"}}, "inference.json: verify.check: Input should be"),
        ({"ecs": {"cluster": "c", "service": "s"}}, "exactly one of ssm / ecs"),
        ({"surprise": 1}, "inference.json: surprise: Extra inputs are not permitted"),
    ],
)
def test_a_bad_file_names_the_file_and_the_field(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(service_spec.SpecError, match=message.replace("(", r"\(")):
        service_spec.parse_file(_write(tmp_path, "inference", **changes))


def test_an_unknown_dependency_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "inference", dependencies=["gpu-driver"])
    with pytest.raises(
        service_spec.SpecError, match=r"inference\.json: dependencies\.0: no service"
    ):
        service_spec.load(tmp_path)


def test_root_cause_says_what_the_checks_found() -> None:
    spec = service_spec.get("equivalence-api")
    down = Probe("equivalence-api", False, "/health: not answering (refused)")
    assert root_cause(spec, down, [Probe("postgres", False, "/health: no answer")]).startswith(
        "dependency postgres down"
    )
    hung = Probe("equivalence-api", False, "/health: no answer within 2 s (hung)")
    assert root_cause(spec, hung, []).startswith("process hung")
    assert root_cause(spec, down, []).startswith("process not running")
