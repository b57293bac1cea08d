"""`selfheal ack` through `selfheal serve` (issue 23 item 3): an incident pages through its
page chain on the served pipeline, the on-call acknowledges it with the operator command
pointed at the endpoint, and no further level is paged; the incident stays open.

The server runs with `--scheduler` so the ladder's Wait states take virtual time and the
clock can be held between two levels (15 and 30 minutes on runbook 003's ladder): the
acknowledgement comes after the L1 page and before L2's turn, as a person's would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from selfheal_shared.services import service_spec

from tests.helpers import load_event
from tests.serve.served import SAMPLES, Served, serve

INFERENCE = SAMPLES / "service_recovery.inference_health_alarm.json"
#: A configuration the unit cannot start with, written as root in the unit's folder (what a
#: bad change would do), and the unit stopped: a restart cannot bring it back.
_SSM = service_spec.get("inference").ssm
assert _SSM is not None
BREAK = _SSM.shell(
    [
        "echo 'FACE_ANALYZER_BROKEN=model file missing' >> face_analyzer.env",
        "systemctl stop face_analyzer",
    ]
)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serve("--scheduler") as running:
        yield running


def post(served: Served, path: str) -> Any:
    request = urllib.request.Request(f"{served.endpoint}/_selfheal/{path}", method="POST")
    with urllib.request.urlopen(request, timeout=90) as r:
        return json.loads(r.read())


def pages_of(served: Served, incident: str | None = None) -> list[dict[str, Any]]:
    """What the HTTP subscriber on the topics received for the service's incidents."""
    return [
        {"topic": p["level"], **p["message"]}
        for p in served.control("pages")["pages"]
        if p["message"].get("automation") == "service_recovery"
        and incident in (None, p["message"].get("incidentId"))
    ]


def test_the_clock_holds_only_where_asked(served: Served) -> None:
    """A hold needs an instant with its offset; a bad one is refused, naming `until`."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        post(served, "clock/hold?until=tomorrow")
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"].startswith("until: ")


def test_an_acknowledgement_through_serve_stops_the_ladder(served: Served) -> None:
    """Runbook 003 §8.1 (L1 Ops 15 min, L2 Eng 30 min, ...): the inference unit cannot start
    with its configuration (broken over Run Command, as a bad change would), its alarm
    fires; L1 is paged at 15 min; `selfheal ack <incident> --by maria` against the server
    stops the chain: L2, L3 and L4 are never paged, no resolve goes out, and the chain in
    the guard-state table says who acknowledged it. Then `selfheal resolve` against the
    server ends the chain the workflow left open: one resolve to L1 (the one level paged),
    found through the served topics' names, and a second resolve is refused."""
    now = datetime.fromisoformat(served.control("clock")["now"])
    broken = served.aws(
        "ssm", "send-command", "--document-name", "AWS-RunShellScript",
        "--targets", "Key=tag:selfheal:host,Values=inference",
        "--parameters", json.dumps({"commands": BREAK}),
    )["Command"]  # fmt: skip
    [host] = [
        i["InstanceId"]
        for i in served.aws("ssm", "describe-instance-information")["InstanceInformationList"]
        if i["Name"] == "inference"
    ]
    ran = served.aws(
        "ssm", "get-command-invocation", "--command-id", broken["CommandId"], "--instance-id", host
    )  # fmt: skip
    assert ran["Status"] == "Success", ran
    post(served, f"clock/hold?until={quote((now + timedelta(minutes=20)).isoformat())}")
    event = load_event(INFERENCE)
    event["detail"]["state"]["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    served.put_events(event)
    served.control("clock/standing?timeout=120")

    [l1] = pages_of(served)
    assert (l1["topic"], l1["kind"], l1["who"]) == ("l1", "page", "Ops")
    incident = l1["incidentId"]
    acked = served.selfheal("ack", incident, "--by", "maria")
    assert acked.returncode == 0, acked.stderr
    assert f"{incident} acknowledged by maria" in acked.stdout

    post(served, "clock/hold")  # the clock goes on: L2's turn at 30 min comes and goes
    runs = served.aws(
        "stepfunctions", "list-executions", "--state-machine-arn", served.arns["service_recovery"]
    )["executions"]
    [run] = [served.wait(r["executionArn"]) for r in runs]

    assert run["status"] == "FAILED", run
    after = pages_of(served, incident)
    assert [p["topic"] for p in after if p.get("kind") == "page"] == ["l1"], "no L2, L3, L4"
    assert {p["topic"] for p in after} == {"l1", "ops"}, "ops told it stays with people"
    assert not [p for p in after if p.get("kind") == "resolve"], "the incident stays open"
    item = served.aws(
        "dynamodb", "get-item", "--table-name", served.tables["guard_state"],
        "--key", json.dumps({"pk": {"S": f"page-chain#{incident}"}}),
    )["Item"]  # fmt: skip
    assert item["acknowledgedBy"]["S"] == "maria" and "resolvedAt" not in item
    assert set(item["paged"]["M"]) == {"l1"}
    assert datetime.fromisoformat(served.control("clock")["now"]) >= now + timedelta(minutes=30)

    cause = "a bad change to face_analyzer.env; reverted by hand"
    done = served.selfheal("resolve", incident, "--by", "maria", "--cause", cause)
    assert done.returncode == 0, done.stderr
    assert f"{incident} resolved by maria" in done.stdout and "resolve sent to l1" in done.stdout

    def resolves() -> list[dict[str, Any]]:  # a person's resolve, not the workflow's
        return [
            {"topic": p["level"], **p["message"]}
            for p in served.control("pages")["pages"]
            if p["message"].get("incidentId") == incident and p["message"].get("kind") == "resolve"
        ]

    [resolve] = resolves()
    assert resolve["topic"] == "l1" and resolve["postIncident"]["rootCause"] == cause
    assert resolve["postIncident"]["resolvedBy"] == "maria"
    again = served.selfheal("resolve", incident, "--by", "maria", "--cause", cause)
    assert again.returncode != 0 and "already resolved at" in again.stderr, again.stderr
    assert len(resolves()) == 1
