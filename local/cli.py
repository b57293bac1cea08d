"""`selfheal`: run the pipeline locally on moto (replay, demo) and list what is wired."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfheal_cdk import spec as spec_mod

from . import operator_cli
from .operator_cli import ENDPOINT_HELP

if TYPE_CHECKING:
    from .world_api import Act


REPLAY_EXPECTS = (
    "replay expects EventBridge event files (one JSON object each) or folders holding them "
    "(every *.json in the folder, by name)"
)


def _event_files(paths: list[Path]) -> list[Path]:
    """The files to replay: each file as given; a folder stands for every `*.json` in it,
    sorted by name (not its subfolders). A folder with none is refused, saying what
    replay expects."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.json") if p.is_file())
            if not found:
                raise SystemExit(f"selfheal: {path} holds no *.json file; {REPLAY_EXPECTS}")
            files += found
        else:
            files.append(path)
    return files


def _load_event(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"selfheal: no such event file: {path}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise SystemExit(f"selfheal: cannot read {path} ({exc}); {REPLAY_EXPECTS}") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"selfheal: {path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"selfheal: {path} must hold one JSON object (an EventBridge event)")
    return data


def _replay(
    paths: list[Path],
    *,
    as_json: bool,
    world: Path | None,
    scale: float,
    dry_run: bool,
    verbose: bool,
    decide: str | None = None,
    start: datetime | None = None,
    scene: bool = False,
) -> int:
    """Each event is rebased: it happens at the clock's start (or right after the previous
    one's run), whatever date it was captured on. With `scene` (the demo: one path), the
    sample's scene (its domain's world, local/worlds/) sets the world up around it first."""
    from .runtime import Pipeline
    from .timeline import render
    from .worlds import NONE, World, running_services, scene_for, services_needed_for

    paths = _event_files(paths)
    events = [(p, _load_event(p)) for p in paths]
    stage = scene_for(paths[0]) if scene else NONE
    summaries: list[dict[str, Any]] = []
    with ExitStack() as stack:
        pipeline = stack.enter_context(
            Pipeline(
                world=World.load(world) if world else None,
                start=start,
                scale=scale,
                scheduler=stage.scheduler,
                dry_run=dry_run,
                log_level="INFO" if verbose else "ERROR",
            )
        )
        if not stage.services and any(services_needed_for(e) for _, e in events):
            stack.enter_context(running_services(pipeline))  # real processes behind the services
        armed = stage.stage(pipeline, stack)
        pipeline.journal.clear()  # the story starts with the sample, not the staging
        start = pipeline.clock.now()
        for _, event in events:
            summaries += pipeline.run_event(
                event,
                # A bound on wall time, not a pace: real processes restart behind some samples.
                timeout=240,
                gate_decision=decide,
                operator="replay-operator",
                acknowledge=stage.acknowledge,
                armed=armed,
                hold_until_parked=stage.hold_until_gate,
            )
            armed = None
        # Refused at the door or dead-lettered: said, never dropped (the timeline's REFUSED).
        refused = [j.text for j in pipeline.refusals()]
        if as_json:
            out = {"executions": summaries, **({"refused": refused} if refused else {})}
            print(json.dumps(out, indent=2, default=str))
        else:
            print(render(pipeline, summaries, start))
    return 0


def _list() -> int:
    spec = spec_mod.load()
    for rule in spec.rules.values():
        src = rule.event_pattern.get("source", ["?"])
        kinds = rule.event_pattern.get("detail-type", ["?"])
        print(f"{rule.name:<24} trigger: {'/'.join(src)} {', '.join(kinds)}")
        print(f"{'':<24} workflow: {rule.workflow}   catalog: {', '.join(rule.catalog) or '-'}")
        if rule.description:
            print(f"{'':<24} {rule.description}")
        for alarm in (a for a in spec.alarms.values() if a.rule == rule.name):
            print(f"{'':<24} alarm: {_alarm_line(alarm)}")
    for sch in spec.schedules.values():
        print(f"{sch.name:<24} trigger: schedule {sch.expression} ({sch.timezone})")
        print(f"{'':<24} workflow: {sch.workflow}   catalog: {', '.join(sch.catalog) or '-'}")
        if sch.description:
            print(f"{'':<24} {sch.description}")
    # a workflow without a domain or an alarm definition that does not hold won't deploy
    problems = spec.problems() + spec.domain_problems() + spec.alarm_problems()
    for p in problems:
        print(f"WIRING PROBLEM: {p}", file=sys.stderr)
    return 1 if problems else 0


_OPERATORS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def _alarm_line(alarm: spec_mod.AlarmSpec) -> str:
    """`equivalence-api-health: Selfheal/Services HealthCheckFailed Maximum > 0, 2 of 3 x 60 s,
    missing data missing; published by probe`."""
    return (
        f"{alarm.alarm_name}: {alarm.namespace} {alarm.metric_name} {alarm.statistic} "
        f"{_OPERATORS.get(alarm.comparison, alarm.comparison)} {alarm.threshold:g}, "
        f"{alarm.datapoints_to_alarm} of {alarm.evaluation_periods} x {alarm.period} s, "
        f"missing data {alarm.treat_missing_data}; published by {alarm.publisher.get('kind')}"
    )


def _act(act: Act, start: datetime | None = None) -> int:
    """A world's story with no sample (local/worlds/, `ACTS`): its own pipeline on the
    counted clock, in the demo world without the sections it leaves out."""
    from .broker import BrokerUnavailable
    from .runtime import Pipeline
    from .timeline import render
    from .worlds import World

    spec = World.load().spec.model_copy(deep=True)
    for section in act.without:
        setattr(spec, section, [])
    print(f"=== {act.title}")
    try:
        with ExitStack() as stack:
            p = stack.enter_context(Pipeline(world=World(spec), start=start, scheduler=True))
            happen = act.stage(p, stack)
            p.journal.clear()
            begin = p.clock.now()
            arns = happen()
            print(render(p, [p.execution_summary(arn) for arn in arns], begin))
    except BrokerUnavailable as exc:
        print(f"skipped: {exc}")
        return 1
    return 0


def demo_parts(
    scale: float = 0.0, start: datetime | None = None
) -> list[tuple[str, Callable[[], int]]]:
    """`selfheal demo`'s parts in the order it prints them: every sample's replay, then every
    world's act, each in its own pipeline (so each can also run alone: the suite checks
    them one by one against the committed output)."""
    from .worlds import acts

    def sample_part(sample: Path) -> Callable[[], int]:
        def run() -> int:
            print(f"=== {sample.relative_to(spec_mod.ROOT)}")
            return _replay(
                [sample],
                as_json=False,
                world=None,
                scale=scale,
                dry_run=False,
                verbose=False,
                decide="resume",
                start=start,
                scene=True,
            )

        return run

    samples = sorted((spec_mod.ROOT / "events" / "samples").glob("*.json"))
    parts = [(str(s.relative_to(spec_mod.ROOT)), sample_part(s)) for s in samples]
    return parts + [(act.title, functools.partial(_act, act, start)) for act in acts()]


DEMO_HEADER = "selfheal demo: each sample event replayed through the local pipeline (moto)\n"


def _demo(scale: float, start: datetime | None = None) -> int:
    print(DEMO_HEADER)
    return max((run() for _, run in demo_parts(scale, start)), default=0)


def _schedules(count: int, after: datetime | None) -> int:
    """The next real fire times: the one command that reads the wall clock (unless --after)."""
    from .schedules import occurrences

    spec = spec_mod.load()
    now = after or datetime.now(UTC)
    for sch in spec.schedules.values():
        fires = ", ".join(t.isoformat() for t in occurrences(sch, now, count))
        print(f"{sch.name:<28} {sch.expression} {sch.timezone} -> {sch.workflow}")
        print(f"{'':<28} next: {fires}")
    return 0


def _fire(
    name: str, at: str | None, world: Path | None, as_json: bool, start: datetime | None = None
) -> int:
    """Fire a schedule in the local pipeline (at its next occurrence after the clock's
    start, or `--at`)."""
    from .runtime import Pipeline
    from .schedules import fire, occurrences
    from .timeline import render
    from .worlds import World

    spec = spec_mod.load()
    if name not in spec.schedules:
        raise SystemExit(f"selfheal: no schedule {name!r}; have {sorted(spec.schedules)}")
    when = datetime.fromisoformat(at) if at else None
    if when is not None and when.tzinfo is None:
        from zoneinfo import ZoneInfo

        when = when.replace(tzinfo=ZoneInfo(spec.schedules[name].timezone))
    with Pipeline(world=World.load(world) if world else None, start=start) as pipeline:
        when = when or occurrences(spec.schedules[name], pipeline.clock.now())[0]
        start = max(when.astimezone(UTC), pipeline.clock.now())
        # The operator's own command: a schedule shipped disabled runs as it would enabled.
        arn = fire(pipeline, name, when, as_enabled=True)
        pipeline.wait([arn], timeout=300)
        summary = pipeline.execution_summary(arn)
        if as_json:
            print(json.dumps({"executions": [summary]}, indent=2, default=str))
        else:
            print(render(pipeline, [summary], start))
    return 0 if summary["status"] == "SUCCEEDED" else 1


def _instant(text: str) -> datetime:
    """An ISO 8601 instant for --start / --after; without an offset it is UTC."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _clock(action: str, seconds: float, endpoint_url: str | None) -> int:
    """The virtual clock of a running `selfheal serve` (its control path)."""
    import os
    import urllib.error
    import urllib.request

    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise SystemExit("selfheal: give --endpoint-url (the `selfheal serve` endpoint)")
    url = endpoint.rstrip("/") + "/_selfheal/clock"
    request = urllib.request.Request(url)
    if action == "advance":
        request = urllib.request.Request(f"{url}/advance?seconds={seconds}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            print(json.loads(response.read())["now"])
    except urllib.error.HTTPError as exc:  # the server refused: say why it did
        raise SystemExit(f"selfheal: clock {action} refused: {_refusal(exc)}") from None
    except (urllib.error.URLError, KeyError, ValueError) as exc:
        raise SystemExit(f"selfheal: no `selfheal serve` clock at {url}: {exc}") from None
    return 0


def _refusal(exc: Any) -> str:
    """The `error` of a control endpoint's JSON answer, else its HTTP status."""
    try:
        return str(json.loads(exc.read())["error"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"HTTP {exc.code} {exc.reason}"


START_HELP = "virtual time at the start, ISO 8601 (default: the fixed local/clock.py DEFAULT_START)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="selfheal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="route event file(s) through the local pipeline")
    rp.add_argument(
        "events", nargs="+", type=Path, help="event files, or folders of them (every *.json)"
    )
    rp.add_argument("--json", action="store_true", help="print one machine-readable summary")
    rp.add_argument("--world", type=Path, help="world file (default: local/worlds/demo.json)")
    rp.add_argument(
        "--scale",
        type=float,
        default=0.0,
        help="real seconds slept per virtual second in Wait states (default 0)",
    )
    rp.add_argument("--start", type=_instant, help=START_HELP)
    rp.add_argument("--dry-run", action="store_true", help="guards record, nothing acts")
    rp.add_argument("--verbose", action="store_true", help="remediator logs on stderr")
    rp.add_argument(
        "--decide",
        choices=["resume", "keep_frozen"],
        help="answer human gates with this (default: leave them waiting)",
    )
    operator_cli.add_parsers(sub)
    sub.add_parser("list", help="each automation with its trigger and workflow")
    cp = sub.add_parser(
        "catalog", help="the runbook catalog with a status per row, from wiring and tests"
    )
    cp.add_argument("--write", action="store_true", help="write docs/CATALOG.md")
    ap = sub.add_parser("architecture", help="where each domain lives, from the convention files")
    ap.add_argument("--write", action="store_true", help="write docs/ARCHITECTURE.md")
    sp = sub.add_parser("schedules", help="each schedule with its next fire times")
    sp.add_argument("--count", type=int, default=3)
    sp.add_argument("--after", type=_instant, help="list fire times after this (default: now)")
    fp = sub.add_parser("fire", help="fire a schedule in the local pipeline and print the run")
    fp.add_argument("schedule")
    fp.add_argument("--at", help="fire time, ISO 8601 (default: the next occurrence); "
                    "without an offset it is read in the schedule's time zone")  # fmt: skip
    fp.add_argument("--world", type=Path, help="world file (default: local/worlds/demo.json)")
    fp.add_argument("--json", action="store_true")
    fp.add_argument("--start", type=_instant, help=START_HELP)
    sv = sub.add_parser(
        "serve", help="the local pipeline behind a moto server on 127.0.0.1, for AWS clients"
    )
    sv.add_argument("--port", type=int, default=0, help="default: a free port")
    sv.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="virtual seconds per real second in Wait states (default 0: they pass at once)",
    )
    sv.add_argument("--world", type=Path, help="world file (default: local/worlds/demo.json)")
    sv.add_argument("--dry-run", action="store_true", help="guards record, nothing acts")
    sv.add_argument("--mqtt", action="store_true", help="also mosquitto and the IoT bridge")
    sv.add_argument(
        "--scheduler",
        action="store_true",
        help="Wait states sleep in virtual time; the clock jumps when everything is parked "
        "and can be held at an instant (POST /_selfheal/clock/hold?until=ISO)",
    )
    ck = sub.add_parser("clock", help="read or advance the virtual clock of `selfheal serve`")
    ck.add_argument("action", choices=["now", "advance"])
    ck.add_argument("seconds", type=float, nargs="?", default=0.0)
    ck.add_argument("--endpoint-url", help=ENDPOINT_HELP)
    dp = sub.add_parser("demo", help="replay every sample event with its timeline")
    dp.add_argument("--scale", type=float, default=0.0)
    dp.add_argument("--start", type=_instant, help=START_HELP)
    args = parser.parse_args(argv)
    if args.command == "replay":
        return _replay(
            args.events,
            as_json=args.json,
            world=args.world,
            scale=args.scale,
            dry_run=args.dry_run,
            verbose=args.verbose,
            decide=args.decide,
            start=args.start,
        )
    if args.command in operator_cli.COMMANDS:
        return operator_cli.run(args)
    if args.command == "schedules":
        return _schedules(args.count, args.after)
    if args.command == "fire":
        return _fire(args.schedule, args.at, args.world, args.json, args.start)
    if args.command == "list":
        return _list()
    if args.command == "serve":
        from . import serve

        return serve.run(
            port=args.port,
            speed=args.speed,
            world=args.world,
            dry_run=args.dry_run,
            mqtt=args.mqtt,
            scheduler=args.scheduler,
        )
    if args.command == "clock":
        return _clock(args.action, args.seconds, args.endpoint_url)
    if args.command in ("catalog", "architecture"):
        from selfheal_cdk import architecture

        from . import catalog

        page = catalog if args.command == "catalog" else architecture
        text = page.render()
        if args.write:
            page.DOC.write_text(text)
        else:
            print(text)
        return 0
    return _demo(args.scale, args.start)


if __name__ == "__main__":
    sys.exit(main())
