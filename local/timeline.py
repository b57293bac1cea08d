"""A readable incident timeline: what arrived, what ran, what changed, who was told."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .runtime import Pipeline

_MARK = {"event": "EVENT", "route": "ROUTE", "alarm": "ALARM", "audit": "ACTION",
         "outcome": "OUTCOME", "notify": "NOTIFY"}


def _offset(at: datetime, start: datetime) -> str:
    seconds = int((at - start).total_seconds())
    return f"+{seconds // 60:>3d}:{seconds % 60:02d}"


def entries(p: Pipeline) -> list[tuple[datetime, int, str, str]]:
    rows: list[tuple[datetime, int, str, str]] = []
    for n, j in enumerate(p.journal):
        rows.append((j.at, n, _MARK[j.kind], j.text))
    for r in p.audit_records():
        at = datetime.fromisoformat(r["at"])
        if r.get("outcome"):
            text = f"{r['action']}: {r['outcome']} - {r['why']}"
            rows.append((at, 10_000, "OUTCOME", text))
        else:
            undo = json.loads(r.get("inverse") or "{}")
            hint = f"  (undo: {undo.get('api')})" if undo else ""
            rows.append((at, 10_000, "ACTION", f"{r['action']}: {r['result']}{hint}"))
    for m in p.notifications():
        at = datetime.fromisoformat(m["message"]["at"])
        rows.append((at, 20_000, "NOTIFY", f"{m['level']}: {m['subject']}"))
    return sorted(rows, key=lambda r: (r[0], r[1]))


def render(p: Pipeline, summaries: list[dict[str, Any]], start: datetime) -> str:
    lines = ["", "Incident timeline (virtual time since the first event)", ""]
    for at, _, mark, text in entries(p):
        lines.append(f"  {_offset(at, start)}  {mark:<7}  {text}")
    for s in summaries:
        name = s["executionArn"].rsplit(":", 1)[-1]
        lines += ["", f"  execution {name}: {s['status']} in {s['duration_ms']} ms",
                  "    path:    " + " -> ".join(s["states"])]
        acts = ", ".join(f"{a['name']} {a['outcome']}" for a in s["actions"]) or "none"
        lines.append(f"    actions: {acts}")
        if s.get("error"):
            lines.append(f"    error:   {s['error']}: {s.get('cause')}")
    return "\n".join(lines) + "\n"
