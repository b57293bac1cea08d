"""The operator commands (`gates`, `approve`, `reject`, `start`, `timeline`, `kill-switch`,
`silence`, `ack`, `resolve`): the same commands against AWS and against `selfheal serve`.

`--endpoint-url` (or `AWS_ENDPOINT_URL`, which boto3 honours itself) says where; the
tables are given (`--guard-table`, `--audit-table`, or `SELFHEAL_TABLE_*`) or found by
name among the account's tables; the page topics `resolve` publishes to likewise
(`SELFHEAL_TOPIC_<LEVEL>`, else the topic named `...-topic-<level>` or displayed as
`selfheal <level>`). Against `selfheal serve` the command also takes the server's virtual
clock, so a silence starts at the pipeline's "now", not the wall clock's.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

ENDPOINT_HELP = "the AWS endpoint (default: $AWS_ENDPOINT_URL, else AWS itself)"
COMMANDS = (
    "gates", "approve", "reject", "start", "timeline", "kill-switch", "silence", "ack", "resolve"
)  # fmt: skip
_TABLES = {"guard": "guard_state", "audit": "audit"}


def add_parsers(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--endpoint-url", help=ENDPOINT_HELP)
    common.add_argument("--guard-table", help="the guard-state table (default: found by name)")
    common.add_argument("--audit-table", help="the audit table (default: found by name)")
    for name, text in (
        ("approve", "resume: answer a human gate"),
        ("reject", "keep frozen: answer a human gate"),
    ):
        gp = sub.add_parser(name, help=text, parents=[common])
        gp.add_argument("incident")
        gp.add_argument("--operator", required=True)
        gp.add_argument("--reason", required=True, help="why (kept in the audit trail)")
        if name == "approve":
            gp.add_argument(
                "--acknowledge",
                action="append",
                default=[],
                metavar="SOURCE",
                help="a source the integrity check flagged that you checked (each of them "
                "is needed to resume over it)",
            )
    sub.add_parser("gates", help="list human gates waiting for an answer", parents=[common])
    st = sub.add_parser("start", help="start a workflow with your input", parents=[common])
    st.add_argument("workflow", help="workflow name (e.g. freeze_ingestion) or state machine ARN")
    st.add_argument("--input", type=Path, required=True, help="JSON file with the input")
    st.add_argument("--name", help="execution name (default: a unique one)")
    tl = sub.add_parser("timeline", help="what an execution did", parents=[common])
    tl.add_argument("execution", help="execution ARN")
    ks = sub.add_parser(
        "kill-switch", help="turn the global kill switch on or off", parents=[common]
    )
    ks.add_argument("state", choices=["on", "off"])
    ks.add_argument("--operator", required=True)
    ks.add_argument("--reason", required=True)
    si = sub.add_parser(
        "silence", help="no automated action nor page for a scope, for a while", parents=[common]
    )
    si.add_argument("scope", help="an edge id, site:<id>, alarm:<edgeId>:<TYPE> or fleet")
    si.add_argument("--minutes", type=int, required=True)
    si.add_argument("--reason", required=True)
    ak = sub.add_parser(
        "ack",
        help="acknowledge an incident's pages: its escalation stops, the incident stays open",
        parents=[common],
    )
    ak.add_argument("incident", help="the incident id the page names")
    ak.add_argument("--by", required=True, help="who takes the incident")
    rs = sub.add_parser(
        "resolve",
        help="end an incident's pages: one resolve to every level paged, and its "
        "post-incident record with your cause",
        description="End the incident's open page chain (e.g. a workflow that failed and "
        "handed it to people): one resolve goes to every level paged, each once, and the "
        "post-incident record (runbook 004's checklist) carries who resolved it and the root "
        "cause as you state it. A chain resolved already is refused, saying when and by whom.",
        epilog="example: selfheal resolve emergency_stop-edge-cps-01-1a2b --by ana "
        '--cause "E-Stop pressed during maintenance; reset on site after inspection" '
        '--downtime-minutes 95 --data-lost "none"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    rs.add_argument("incident", help="the incident id the page names")
    rs.add_argument("--by", required=True, help="who resolves the incident")
    rs.add_argument("--cause", required=True, help="the root cause, as you found it")
    rs.add_argument(
        "--downtime-minutes", type=float, help="the downtime, if you know it (else left for people)"
    )
    rs.add_argument("--data-lost", help="what data was lost, if you know (else left for people)")


def run(args: argparse.Namespace) -> int:
    _connect(args)
    try:
        handler = {
            "gates": _gates,
            "approve": _decide,
            "reject": _decide,
            "start": _start,
            "timeline": _timeline,
            "kill-switch": _kill_switch,
            "silence": _silence,
            "ack": _ack,
            "resolve": _resolve,
        }[args.command]
        return handler(args)
    except (ClientError, BotoCoreError) as exc:
        raise SystemExit(f"selfheal: {exc}") from None


# -- where ---------------------------------------------------------------------------


def _connect(args: argparse.Namespace) -> None:
    from selfheal_shared.core import clients
    from selfheal_shared.core import clock as shared_clock

    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint and not (os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")):
        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"  # what `selfheal serve` runs in
    clients.reset()
    if endpoint and (now := _served_now(endpoint)) is not None:
        shared_clock.install(lambda: now)


def _served_now(endpoint: str) -> datetime | None:
    """The virtual time of a `selfheal serve` at `endpoint` (None: not one, e.g. AWS)."""
    try:
        with urllib.request.urlopen(endpoint.rstrip("/") + "/_selfheal/clock", timeout=5) as r:
            return datetime.fromisoformat(json.loads(r.read())["now"])
    except (OSError, ValueError, KeyError):
        return None


def _table(args: argparse.Namespace, kind: str) -> str:
    """Given, from the environment, or the one table whose name says it."""
    from selfheal_shared.core.clients import client

    env = f"SELFHEAL_TABLE_{_TABLES[kind].upper()}"
    given = getattr(args, f"{kind}_table", None) or os.environ.get(env)
    if not given:
        names: list[str] = []
        for page in client("dynamodb").get_paginator("list_tables").paginate():
            names += page["TableNames"]
        words = ("guard", "state") if kind == "guard" else ("audit",)
        found = [n for n in names if all(w in n.lower() for w in words)]
        if len(found) != 1:
            raise SystemExit(
                f"selfheal: give --{kind}-table or set {env} "
                f"({len(found)} tables look like it: {found})"
            )
        given = found[0]
    os.environ[env] = given
    return given


# -- commands ----------------------------------------------------------------------------


def _gates(args: argparse.Namespace) -> int:
    from selfheal_shared.core import approvals
    from selfheal_shared.core.clients import client

    _table(args, "guard")
    sfn = client("stepfunctions")
    for gate in approvals.pending():
        execution = gate["details"].get("executionId")
        if execution and not _running(sfn, execution):
            continue  # answered with send-task-failure, stopped, or timed out: it waits no more
        print(f"{gate['incidentId']}  parked {gate['parkedAt']}  {json.dumps(gate['details'])}")
    return 0


def _running(sfn: Any, execution: str) -> bool:
    try:
        return bool(sfn.describe_execution(executionArn=execution)["status"] == "RUNNING")
    except ClientError:
        return True  # not ours to read: list it rather than hide it


def _decide(args: argparse.Namespace) -> int:
    """Answer a human gate: what `aws stepfunctions send-task-success` does, checked."""
    from selfheal_shared.core import approvals
    from selfheal_shared.core.errors import InputInvalid

    _table(args, "guard")
    decision = "resume" if args.command == "approve" else "keep_frozen"
    try:
        answer = approvals.decide(
            args.incident,
            decision,
            args.operator,
            args.reason,
            getattr(args, "acknowledge", []),
        )
    except (LookupError, InputInvalid) as exc:
        raise SystemExit(f"selfheal: {exc}") from None
    print(
        f"{args.incident}: {answer['decision']} by {answer['operator']} sent; the workflow "
        "checks it (a refused answer is paged and the gate asks again: see `selfheal gates`)"
    )
    return 0


def _start(args: argparse.Namespace) -> int:
    """What *Start execution* in the console does; the workflow checks the input itself."""
    import uuid

    from selfheal_shared.core.clients import client

    try:
        payload = json.loads(args.input.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"selfheal: {args.input}: {exc}") from None
    sfn = client("stepfunctions")
    arn = args.workflow
    if not arn.startswith("arn:"):
        want = args.workflow.replace("_", "-").lower()
        machines = [
            m
            for page in sfn.get_paginator("list_state_machines").paginate()
            for m in page["stateMachines"]
        ]
        found = [m["stateMachineArn"] for m in machines if want in m["name"].lower()]
        if len(found) != 1:
            names = sorted(m["name"] for m in machines)
            raise SystemExit(f"selfheal: {len(found)} state machines match {want!r}: {names}")
        arn = found[0]
    execution = sfn.start_execution(
        stateMachineArn=arn,
        name=args.name or f"manual-{uuid.uuid4()}",
        input=json.dumps(payload),
    )["executionArn"]
    print(execution)
    return 0


def _timeline(args: argparse.Namespace) -> int:
    """The execution's states (its history) and what it recorded (the audit table); a
    guard's refusal names the guard and its reason on its line."""
    from selfheal_shared.core import refusals
    from selfheal_shared.core.clients import client

    sfn = client("stepfunctions")
    desc = sfn.describe_execution(executionArn=args.execution)
    start: datetime = desc["startDate"]
    rows: list[tuple[datetime, str]] = []
    for event in sfn.get_paginator("get_execution_history").paginate(executionArn=args.execution):
        for e in event["events"]:
            if "stateEnteredEventDetails" in e:
                rows.append((e["timestamp"], f"STATE    {e['stateEnteredEventDetails']['name']}"))
    table = _table(args, "audit")
    ddb = client("dynamodb")
    for page in ddb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="#e = :e",
        ExpressionAttributeNames={"#e": "execution"},
        ExpressionAttributeValues={":e": {"S": args.execution}},
    ):
        for item in page["Items"]:
            r = {k: next(iter(v.values())) for k, v in item.items()}
            at = datetime.fromisoformat(r["at"])
            if r.get("outcome"):
                rows.append((at, f"OUTCOME  {refusals.line(r)}"))
            else:
                rows.append((at, f"ACTION   {r['action']}: {r.get('result', '')}"))
    print(f"{args.execution}  {desc['status']}")
    for at, text in sorted(rows, key=lambda row: _utc(row[0])):
        seconds = int((_utc(at) - _utc(start)).total_seconds())
        print(f"+{seconds // 60:>3d}:{seconds % 60:02d}  {text}")
    if desc["status"] not in ("RUNNING", "SUCCEEDED"):
        print(f"error: {desc.get('error')}: {desc.get('cause')}")
    return 0


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def _kill_switch(args: argparse.Namespace) -> int:
    from selfheal_shared.core import guards

    try:  # refused before anything is read or written
        guards.check_switch_request(args.operator, args.reason, enabled=args.state == "on")
        _table(args, "guard")
        guards.set_switch(
            guards.KILL_SWITCH, enabled=args.state == "on", reason=args.reason, actor=args.operator
        )
    except ValueError as exc:
        raise SystemExit(f"selfheal: kill-switch refused: {exc}") from None
    print(f"kill switch {args.state}: {args.reason}")
    return 0


def _silence(args: argparse.Namespace) -> int:
    from selfheal_shared.core import guards

    try:  # refused before anything is read or written
        guards.check_scope(args.scope)
        _table(args, "guard")
        window = guards.silence(args.scope, minutes=args.minutes, reason=args.reason)
    except ValueError as exc:
        raise SystemExit(f"selfheal: silence refused: {exc}") from None
    print(f"{window['scope']} silenced until {window['until']}: {window['reason']}")
    return 0


def _ack(args: argparse.Namespace) -> int:
    from selfheal_shared.core import page_chain

    try:
        _table(args, "guard")
        chain = page_chain.acknowledge(args.incident, by=args.by)
    except ValueError as exc:
        raise SystemExit(f"selfheal: ack refused: {exc}") from None
    paged = ", ".join(f"{lv} at {at}" for lv, at in chain.paged.items()) or "nobody yet"
    print(
        f"{chain.incidentId} acknowledged by {chain.acknowledgedBy} at {chain.acknowledgedAt} "
        f"(paged: {paged}); escalation stopped, the incident stays open"
    )
    return 0


def _resolve(args: argparse.Namespace) -> int:
    from selfheal_shared.core import page_chain, page_resolve

    try:  # what the person gave is refused before anything is read or written
        person = page_resolve.check(
            by=args.by,
            cause=args.cause,
            downtime_minutes=args.downtime_minutes,
            data_lost=args.data_lost,
        )
        _table(args, "guard")
        _table(args, "audit")
        chain = page_chain.get(args.incident)
        if chain is not None:
            _topics(chain)
        done = page_resolve.resolve(args.incident, person, actor=f"operator:{person.by}")
    except ValueError as exc:
        raise SystemExit(f"selfheal: resolve refused: {exc}") from None
    chain = done.chain
    record = chain.postIncident or {}
    kept = (
        "post-incident record kept with the cause as you stated it"
        if (record.get("statedBy") or {}).get("rootCause") == person.by
        else "no post-incident record of yours (nobody was paged, or another close wrote it)"
    )
    print(
        f"{chain.incidentId} resolved by {chain.resolvedBy} at {chain.resolvedAt}: resolve sent "
        f"to {', '.join(done.levels) or 'nobody (no level was paged)'}; {kept}"
    )
    return 0


def _topics(chain: Any) -> None:
    """The page topics of the levels `chain` paged (the resolve goes to each): given in
    `SELFHEAL_TOPIC_<LEVEL>`, else the one topic whose name or display name says the level
    (`selfheal serve` names it `...-topic-<level>`, the stacks display `selfheal <level>`)."""
    from selfheal_shared.core import escalation_policy
    from selfheal_shared.core.clients import client

    policy = escalation_policy.load(chain.system)
    wanted = {policy.topic(level) for level in chain.paged}
    missing = sorted(t for t in wanted if not os.environ.get(f"SELFHEAL_TOPIC_{t.upper()}"))
    if not missing:
        return
    sns = client("sns")
    arns = [t["TopicArn"] for p in sns.get_paginator("list_topics").paginate() for t in p["Topics"]]
    for topic in missing:
        found = [a for a in arns if a.rsplit(":", 1)[-1].endswith(f"-topic-{topic}")]
        if not found:
            found = [
                a
                for a in arns
                if sns.get_topic_attributes(TopicArn=a)["Attributes"].get("DisplayName")
                == f"selfheal {topic}"
            ]
        if len(found) != 1:
            raise SystemExit(
                f"selfheal: set SELFHEAL_TOPIC_{topic.upper()} to the {topic} page topic's ARN "
                f"({len(found)} topics look like it: {found})"
            )
        os.environ[f"SELFHEAL_TOPIC_{topic.upper()}"] = found[0]
