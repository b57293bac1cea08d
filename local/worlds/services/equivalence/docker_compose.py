"""`docker compose` on a host with no Docker engine: a thin command over pm2, the real
process manager that runs the host's services (`compose.json` in the host's directory maps
each compose service to its pm2 app, or to a server's pid file). What the runbooks type
works unchanged: `docker compose ps [svc]`, `restart svc`, `logs --tail N svc`, `stop svc`,
`start svc`. Like `docker compose`, `restart` reads `.env` again; it returns once the
service's port accepts connections (bounded), so a check right after is not a race.
Stdlib only: it runs as a program on the host."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path.cwd()
READY_SECONDS = 15.0


def _file() -> dict[str, object]:
    return dict(json.loads((HERE / "compose.json").read_text()))


def _compose() -> dict[str, dict[str, object]]:
    services = _file()["services"]
    assert isinstance(services, dict)
    return services


def _env() -> dict[str, str]:
    env = dict(os.environ)
    path = HERE / ".env"
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                env[key.strip()] = value.strip()
    return env


def _pm2(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    plain = {**(env or os.environ), "FORCE_COLOR": "0", "NO_COLOR": "1"}  # no ANSI in output
    return subprocess.run(["pm2", *args], capture_output=True, text=True, env=plain, timeout=60)


def _apps() -> dict[str, dict[str, object]]:
    out = _pm2("jlist").stdout
    start = out.find("[")
    return {str(a["name"]): a for a in json.loads(out[start:] if start >= 0 else "[]")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ago(seconds: float) -> str:
    """How Compose words a duration (go-units HumanDuration)."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s < 60:
        return f"{s} second{'s' if s != 1 else ''}"
    minutes = round(s / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    return "About an hour" if hours == 1 else f"{hours} hours"


def _state(
    name: str, svc: dict[str, object], apps: dict[str, dict[str, object]]
) -> tuple[bool, str, float]:
    """(running, STATUS as Compose words it, created: epoch seconds)."""
    now = time.time()
    if "pidFile" in svc:
        path = Path(str(svc["pidFile"]))
        pid = int(path.read_text().split()[0]) if path.exists() else 0
        since = path.stat().st_mtime if path.exists() else now
        if pid and _alive(pid):
            return True, f"Up {_ago(now - since)}", since
        return False, f"Exited (0) {_ago(now - since)} ago", since
    app = apps.get(str(svc.get("pm2", name)))
    if app is None:
        return False, "Exited (0) Less than a second ago", now
    env = app.get("pm2_env", {})
    assert isinstance(env, dict)
    since = float(env.get("pm_uptime", now * 1000)) / 1000
    if env.get("status") == "online" and app.get("pid"):
        return True, f"Up {_ago(now - since)}", float(env.get("created_at", since * 1000)) / 1000
    exited = f"Exited ({env.get('exit_code', 0)}) {_ago(now - since)} ago"
    return False, exited, float(env.get("created_at", since * 1000)) / 1000


def ps(names: list[str], every: bool) -> int:
    """Compose v2's table: running containers, or every one with `-a`."""
    compose, apps, env = _compose(), _apps(), _env()
    project = str(_file().get("project", "app"))
    header = ("NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS")
    rows = []
    for name in names or sorted(compose):
        if name not in compose:
            print(f"no such service: {name}", file=sys.stderr)
            return 1
        svc = compose[name]
        running, status, created = _state(name, svc, apps)
        if not (running or every):
            continue
        port = env.get(str(svc.get("port", "")), "")
        command = str(svc.get("command", name))
        command = command if len(command) <= 20 else command[:19] + "…"
        rows.append((
            f"{project}-{name}-1", str(svc.get("image", f"{project}-{name}")), f'"{command}"',
            name, f"{_ago(time.time() - created)} ago", status,
            f"127.0.0.1:{port}->{port}/tcp" if port and running else "",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _wait_port(port: int) -> bool:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def lifecycle(verb: str, names: list[str]) -> int:
    compose = _compose()
    env = _env()
    for name in names:
        svc = compose.get(name)
        if svc is None or "pm2" not in svc:
            print(f"service {name}: not managed on this host", file=sys.stderr)
            return 1
        app = str(svc["pm2"])
        args = [verb, app] + (["--update-env"] if verb in ("restart", "start") else [])
        done = _pm2(*args, env=env)
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            return done.returncode
        print(f" Container {app}  {'Started' if verb != 'stop' else 'Stopped'}")
        port = svc.get("port")
        if verb != "stop" and port and not _wait_port(int(env.get(str(port), str(port)))):
            print(f"service {name}: port {port} not listening after {READY_SECONDS:g} s",
                  file=sys.stderr)  # fmt: skip
            return 1
    return 0


def logs(args: list[str]) -> int:
    tail = 200
    names = []
    it = iter(args)
    for arg in it:
        if arg in ("--tail", "-n"):
            tail = int(next(it))
        elif arg.startswith("--tail="):
            tail = int(arg.split("=", 1)[1])
        else:
            names.append(arg)
    compose, apps = _compose(), _apps()
    for name in names:
        app = apps.get(str(compose.get(name, {}).get("pm2", name)))
        if app is None:
            continue
        env = app.get("pm2_env", {})
        assert isinstance(env, dict)
        lines: list[str] = []
        for key in ("pm_out_log_path", "pm_err_log_path"):
            path = Path(str(env.get(key, "")))
            if path.is_file():
                lines += path.read_text(errors="replace").splitlines()
        for line in lines[-tail:]:
            print(f"{name}-1  | {line}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] != ["compose"] or len(argv) < 2:
        print("usage: docker compose ps|restart|logs|stop|start [service...]", file=sys.stderr)
        return 2
    verb, rest = argv[1], argv[2:]
    if verb == "ps":
        return ps([a for a in rest if not a.startswith("-")], "-a" in rest or "--all" in rest)
    if verb in ("restart", "stop", "start"):
        return lifecycle(verb, [a for a in rest if not a.startswith("-")])
    if verb == "logs":
        return logs(rest)
    print(f"docker compose {verb}: not available on this host", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
