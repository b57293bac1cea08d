"""`systemctl` and `journalctl` on a host with no systemd: thin commands over pm2, the real
process manager that runs the host's unit (`units.json` in the host's directory maps each
unit to its pm2 app and port). What runbook 003 types works unchanged: `systemctl status
face_analyzer`, `is-active`, `restart`, `start`, `stop`, and `journalctl -u face_analyzer
[-n N] [--no-pager]`. Like systemd with a notify-type unit, `restart` returns once the
service is ready (its port accepts connections, bounded) or says the job failed. Stdlib
only: it runs as a program on the host."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path.cwd()
READY_SECONDS = 10.0
#: systemctl's exit codes (systemctl(1) "EXIT STATUS" and LSB): not active, no such unit.
NOT_ACTIVE, NO_UNIT = 3, 5


def _units() -> dict[str, dict[str, object]]:
    return dict(json.loads((HERE / "units.json").read_text()))


def _pm2(*args: str) -> subprocess.CompletedProcess[str]:
    plain = {**os.environ, "FORCE_COLOR": "0", "NO_COLOR": "1"}
    return subprocess.run(["pm2", *args], capture_output=True, text=True, env=plain, timeout=60)


def _app(name: str) -> dict[str, object] | None:
    out = _pm2("jlist").stdout
    start = out.find("[")
    apps = json.loads(out[start:] if start >= 0 else "[]")
    return next((dict(a) for a in apps if a.get("name") == name), None)


def _unit(arg: str) -> str:
    return arg.removesuffix(".service")


def _stopped_on_request(unit: str) -> Path:
    """Marks a unit `systemctl stop` stopped: pm2 says "stopped" for that and for a
    process that died, where systemd says inactive and failed."""
    return HERE / ".stopped" / unit


def _state(unit: str, app: dict[str, object] | None) -> tuple[str, str]:
    """(ActiveState, the `Active:` line's words) as systemd says them."""
    if app is None or _stopped_on_request(unit).exists():
        return "inactive", "inactive (dead)"
    env = app.get("pm2_env", {})
    assert isinstance(env, dict)
    if env.get("status") == "online" and app.get("pid"):
        since = datetime.fromtimestamp(int(env.get("pm_uptime", 0)) / 1000, UTC)
        return "active", f"active (running) since {since:%a %Y-%m-%d %H:%M:%S} UTC"
    code = env.get("exit_code")
    if code:
        return "failed", f"failed (Result: exit-code, status={code})"
    return "failed", "failed (Result: signal)"  # pm2 keeps no signal: killed, exit code 0


def status(unit: str) -> int:
    units = _units()
    if unit not in units:
        print(f"Unit {unit}.service could not be found.", file=sys.stderr)
        return 4
    app = _app(unit)
    state, words = _state(unit, app)
    print(f"● {unit}.service - {units[unit].get('description', unit)}")
    print(f"     Loaded: loaded ({HERE}/units.json; enabled)")
    print(f"     Active: {words}")
    if state == "active" and app is not None:
        print(f"   Main PID: {app.get('pid')} ({unit})")
    return 0 if state == "active" else NOT_ACTIVE


def is_active(unit: str) -> int:
    state, _ = _state(unit, _app(unit))
    print(state)
    return 0 if state == "active" else NOT_ACTIVE


def _ready(unit: str, port: int) -> bool:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        app = _app(unit)
        if app is None or dict(app.get("pm2_env", {})).get("status") != "online":  # type: ignore[call-overload]
            return False  # exited while starting
        time.sleep(0.05)
    return False


def start(unit: str, verb: str) -> int:
    units = _units()
    if unit not in units or _app(unit) is None:
        print(f"Failed to {verb} {unit}.service: Unit {unit}.service not found.", file=sys.stderr)
        return NO_UNIT
    _stopped_on_request(unit).unlink(missing_ok=True)
    _pm2("restart", unit)
    if not _ready(unit, int(str(units[unit]["port"]))):
        print(
            f"Job for {unit}.service failed because the control process exited with error "
            f'code.\nSee "systemctl status {unit}.service" and "journalctl -xeu '
            f'{unit}.service" for details.',
            file=sys.stderr,
        )
        return 1
    return 0


def stop(unit: str) -> int:
    _stopped_on_request(unit).parent.mkdir(exist_ok=True)
    _stopped_on_request(unit).touch()
    _pm2("stop", unit)
    return 0


def journal(unit: str, lines: int) -> int:
    """The unit's last `lines` lines: what it printed (the service writes its errors there
    too, as the journal takes a unit's stdout and stderr as one), then anything on stderr
    (a traceback)."""
    found: list[str] = []
    for stream in ("out", "error"):
        path = HERE / "logs" / f"{unit}-{stream}.log"
        if path.exists():
            found += [line for line in path.read_text().splitlines() if line]
    for line in found[-lines:]:
        print(line)
    return 0


def systemctl(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2:
        print("usage: systemctl status|is-active|restart|start|stop UNIT", file=sys.stderr)
        return 2
    verb, unit = args[0], _unit(args[1])
    if verb == "status":
        return status(unit)
    if verb == "is-active":
        return is_active(unit)
    if verb in ("restart", "start"):
        return start(unit, verb)
    if verb == "stop":
        return stop(unit)
    print(f"Unknown command verb {verb}.", file=sys.stderr)
    return 1


def journalctl(argv: list[str]) -> int:
    unit, lines = "", 10
    it = iter(argv)
    for arg in it:
        if arg in ("-u", "--unit"):
            unit = _unit(next(it, ""))
        elif arg in ("-n", "--lines"):
            lines = int(next(it, "10"))
    if not unit:
        print("journalctl: give -u UNIT", file=sys.stderr)
        return 1
    return journal(unit, lines)


def main() -> None:
    program, argv = sys.argv[1], sys.argv[2:]
    sys.exit(systemctl(argv) if program == "systemctl" else journalctl(argv))


if __name__ == "__main__":
    main()
