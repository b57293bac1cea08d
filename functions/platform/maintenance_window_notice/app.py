"""The pre-maintenance notice (runbook 001 "Pré-manutenção (30 minutos antes)": "Manutenção
programada iniciando em 30 minutos. API pode ficar temporariamente indisponível."), to the
operations topic, with the minutes people really have: a late notice says it is late."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from selfheal_shared.core import clock, notify
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.platform import maintenance_window as mw


class NoticeRequest(BaseModel):
    incident: mw.Window


@remediator(NoticeRequest, actor="maintenance_window_notice", automation=mw.AUTOMATION,
            what="maintenance notice")  # fmt: skip
def handler(run: Run[NoticeRequest]) -> dict[str, Any]:
    w = run.request.incident
    text, late = mw.notice(w, clock.now())
    notify.publish(
        "ops",
        subject=f"[selfheal] {mw.AUTOMATION}: {mw.SYSTEM} maintenance "
        + ("starting soon (late notice)" if late else f"in {mw.NOTICE_MINUTES} minutes"),
        message={
            "incidentId": w.incidentId,
            "automation": mw.AUTOMATION,
            "summary": text,
            "startsAt": w.startsAt,
            "endsAt": w.endsAt,
        },
    )
    run.record("notice", why=f"runbook 001: notify {mw.NOTICE_MINUTES} minutes before",
               result=f"sent to ops: {text}")  # fmt: skip
    return {"late": late, "text": text}
