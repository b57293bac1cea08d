"""A readable incident timeline: what arrived, what ran, what changed, who was told."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from selfheal_shared.core import refusals

from .runtime import Pipeline

_MARK = {
    "event": "EVENT",
    "route": "ROUTE",
    "refused": "REFUSED",
    "alarm": "ALARM",
    "gate": "GATE",
    "iot": "IOT",
}


def _offset(at: datetime, start: datetime) -> str:
    seconds = int((at - start).total_seconds())
    return f"+{seconds // 60:>3d}:{seconds % 60:02d}"


def _duration(ms: int) -> str:
    seconds = round(ms / 1000)
    return f"{seconds // 60}:{seconds % 60:02d}"


def entries(p: Pipeline) -> list[tuple[datetime, int, str, str]]:
    """(virtual time, sequence, mark, text): the sequence orders what happened in one instant."""
    rows: list[tuple[datetime, int, str, str]] = []
    for j in p.journal:
        rows.append((j.at, j.seq, _MARK[j.kind], j.text))
    for r in p.audit_records():
        at, seq = datetime.fromisoformat(r["at"]), int(r["seq"].split("#")[1])
        if r.get("outcome"):
            # a refusal's line names the guard, its reason and what was not done
            rows.append((at, seq, "OUTCOME", refusals.line(r)))
        else:
            undo = json.loads(r.get("inverse") or "{}")
            hint = f"  (undo: {undo['api']})" if undo.get("api") else ""
            rows.append((at, seq, "ACTION", f"{r['action']}: {r['result']}{hint}"))
    for m in p.notifications():
        msg = m["message"]
        rows.append(
            (
                datetime.fromisoformat(msg["at"]),
                int(msg.get("seq", 0)),
                "NOTIFY",
                f"{m['level']}: {m['subject']}",
            )
        )
    return sorted(rows, key=lambda r: (r[0], r[1]))


def render(p: Pipeline, summaries: list[dict[str, Any]], start: datetime) -> str:
    lines = ["", "Incident timeline (virtual time since the first event)", ""]
    for at, _, mark, text in entries(p):
        lines.append(f"  {_offset(at, start)}  {mark:<7}  {text}")
    for s in summaries:
        name = s["executionArn"].rsplit(":", 1)[-1]
        incident = s.get("incidentId") or name
        lines += [
            "",
            f"  incident {incident}: {s['status']} after {_duration(s['duration_ms'])} (virtual)",
            f"    run:     execution {name}",
            "    path:    " + " -> ".join(s["states"]),
        ]
        acts = ", ".join(f"{a['name']} {a['outcome']}" for a in s["actions"]) or "none"
        lines.append(f"    actions: {acts}")
        if s.get("awaiting"):
            lines.append(f"    waiting: {s['awaiting']}")
        if s.get("error"):
            lines.append(f"    error:   {s['error']}: {s.get('cause')}")
    return "\n".join(lines) + "\n"
