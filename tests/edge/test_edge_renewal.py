"""Fixes over a channel that works (runbook 000 §1, issue 9 item 2): the certificate is
renewed from a CSR sent over the claim channel — not over the expired certificate, and no
private key on the wire — and an agent that cannot be reached is said to be unreachable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.edge.conftest import EdgeWorld

E1 = "edge-cps-001"


def audit(w: EdgeWorld, action: str) -> list[dict[str, Any]]:
    return [r for r in w.pipeline.audit_records() if r["action"] == action]


@pytest.mark.procedure("E1", "certificate expired → renew (CSR over the claim channel)")
def test_expired_certificate_is_renewed_from_the_edges_csr(edge_world: EdgeWorld) -> None:
    """Runbook 000 §1 "Certificado MQTT expirado → Renovar certificado via API e publicar
    novo config": the edge makes its key and sends a CSR with its claim credential; the
    cloud issues the certificate from it (CreateCertificateFromCsr) and sends it back."""
    w = edge_world
    [sim] = w.start_edges([E1], failure="certificate_expired")
    sim.kill()
    [run] = w.ladders(finished=1)
    assert run["status"] == "SUCCEEDED" and run["states"][-1] == "Closed"
    assert sim.csrs_sent == 1 and sim.certificate_pem, "the edge installed its certificate"
    # Nothing went over the edge's own (expired) command channel for the renewal ...
    assert [c["command"] for c in sim.commands] == ["probe"]
    topics = [t for t, _ in w.pipeline.extensions.iot_published]
    assert topics == [f"lifo4/{E1}/commands/probe", f"lifo4/provision/{E1}-claim/certificate"]
    # ... and no private key anywhere on the wire.
    for _, payload in w.pipeline.extensions.iot_published:
        assert b"PRIVATE KEY" not in payload and b"privateKey" not in payload
    [sent] = [json.loads(p) for t, p in w.pipeline.extensions.iot_published if "provision" in t]
    iot = w.pipeline.client("iot")
    [principal] = iot.list_thing_principals(thingName=E1)["principals"]
    assert principal.endswith(sent["certificateId"])
    desc = iot.describe_certificate(certificateId=sent["certificateId"])["certificateDescription"]
    assert desc["status"] == "ACTIVE" and desc["certificatePem"] == sim.certificate_pem
    [renewed] = audit(w, "edge_renew_certificate")
    assert "from the edge's CSR" in renewed["result"]


@pytest.mark.procedure("E1", "certificate expired, edge unreachable: said so, escalated")
def test_no_csr_means_the_provisioning_client_cannot_be_reached_and_says_so(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §1: renew "via API" needs the edge's side; when its provisioning client
    is down nothing is issued and the record and the pages say why."""
    w = edge_world
    [sim] = w.start_edges([E1], failure="certificate_expired")
    sim.drop_claim_connection()
    sim.kill()
    [run] = w.ladders(finished=1)

    assert run["status"] == "FAILED"
    [renewal] = audit(w, "edge_renew_certificate")
    assert renewal["outcome"] == "NOT_FIXED"
    assert "provisioning client cannot be reached" in renewal["result"]
    assert w.pipeline.client("iot").list_thing_principals(thingName=E1)["principals"] == []
    [l1] = [p for p in w.pages() if p["level"] == "l1" and "offline" in p["subject"]]
    assert any("cannot be reached" in s for s in l1["message"]["ladderSoFar"])


@pytest.mark.procedure("E1", "agent unreachable: command unacknowledged, said so")
def test_an_unacknowledged_command_is_reported_as_agent_unreachable(
    edge_world: EdgeWorld,
) -> None:
    """Runbook 000 §1 "Verificar logs do edge via SSH (se acessível na rede)": a command
    nobody acknowledged (here the diagnosis probe) was not done; the record and the
    escalation say the agent cannot be reached instead of leaving "sent" pending forever,
    and nothing is restarted on no evidence."""
    w = edge_world
    [sim] = w.start_edges([E1], agent=False)
    sim.kill()
    [run] = w.ladders(finished=1)

    assert run["status"] == "FAILED"
    [note] = audit(w, "agent_unreachable")
    assert note["outcome"] == "NOT_FIXED"
    assert note["result"].startswith(f"{E1}-agent cannot be reached: probe")
    assert [c["command"] for c in sim.commands] == [], "the agent heard nothing"
    assert "Restart" not in run["states"]
    escalation = [
        n for n in w.pipeline.notifications() if n["subject"].startswith("[selfheal] ESCALATION")
    ]
    assert escalation and any("cannot be reached" in s for s in escalation[-1]["message"]["done"])
