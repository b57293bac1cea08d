"""Renew an edge's expired MQTT certificate over a channel that does not need it
(runbook 000 §1 "Certificado MQTT expirado → Renovar certificado via API e publicar novo
config").

The edge's own certificate is expired, so nothing authenticated by it (the controller,
the agent's commands) can carry the renewal. The edge's provisioning client connects with
the fleet's claim certificate, generates a new private key on the edge and sends only a
certificate signing request; here IoT Core issues the certificate from that CSR
(CreateCertificateFromCsr), it is attached to the edge's thing and policy, and the
certificate (public) goes back on the claim channel. No private key is ever created here
or sent over MQTT. Without a fresh CSR the edge's provisioning client cannot be reached:
that is recorded, and nothing is pretended."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from selfheal_shared.core import clock, config, effects
from selfheal_shared.core.clients import client
from selfheal_shared.core.outcomes import Outcome
from selfheal_shared.core.protocol import Run, remediator
from selfheal_shared.edge import certificates, edge_registry, edges
from selfheal_shared.edge.edges import AUTOMATION
from selfheal_shared.edge.edges import EdgeIncident as Incident

#: A CSR older than this is not an answer to this outage.
CSR_MAX_AGE = timedelta(hours=1)


class RenewRequest(BaseModel):
    incident: Incident


def certificate_topic(edge_id: str) -> str:
    return f"lifo4/provision/{edge_id}-claim/certificate"


@remediator(
    RenewRequest,
    actor="edge_renew_cert",
    automation=AUTOMATION,
    what="certificate renewal",
    scopes=lambda r: edges.silence_scopes(r.incident),
)
def handler(run: Run[RenewRequest]) -> dict[str, Any]:
    inc = run.request.incident
    renewal_id = f"renew-{run.effect_key('edge_renew_certificate', inc.edgeId)}"
    pending = edge_registry.get(f"csr#{inc.edgeId}")
    fresh = (
        pending is not None
        and not pending.get("usedBy")
        and clock.now() - datetime.fromisoformat(pending["at"]) <= CSR_MAX_AGE
    )
    if pending is None or not fresh:
        run.record(
            "edge_renew_certificate",
            why=f"{inc.edgeId} reported an expired MQTT certificate",
            result=(
                f"not renewed: no certificate signing request from {inc.edgeId}-claim "
                f"in the last {int(CSR_MAX_AGE.total_seconds() // 60)} min; the edge's "
                "provisioning client cannot be reached"
            ),
            outcome=Outcome.NOT_FIXED,
        )
        return {"commandId": renewal_id, "renewed": False, "certificateId": ""}
    csr = str(pending["csr"])

    def renew(_key: str) -> dict[str, Any]:
        cert: dict[str, Any] = client("iot", sdk_retries=False).create_certificate_from_csr(
            certificateSigningRequest=csr, setAsActive=True
        )
        return deliver(cert)

    def issued(key: str) -> dict[str, Any] | None:
        """The certificate an earlier attempt issued from this CSR (created since that
        attempt began, with the CSR's subject), delivered now if it was not yet."""
        since = effects.began(run.incident_id, key)
        iot = client("iot")
        if since is None:
            return None
        recent = iot.list_certificates(ascendingOrder=False, pageSize=50)["certificates"]
        for summary in (c for c in recent if c["creationDate"] >= since):
            described = iot.describe_certificate(certificateId=summary["certificateId"])
            pem = described["certificateDescription"]["certificatePem"]
            if certificates.issued_from(pem, csr):
                return deliver({**summary, "certificatePem": pem})
        return None

    def deliver(cert: dict[str, Any]) -> dict[str, Any]:
        """Attach and send: each step repeatable (attaching twice is one attachment; the
        edge installs a renewal id once)."""
        iot = client("iot")
        iot.attach_policy(
            policyName=config.env("SELFHEAL_EDGE_POLICY", "selfheal-edge"),
            target=cert["certificateArn"],
        )
        iot.attach_thing_principal(thingName=inc.edgeId, principal=cert["certificateArn"])
        body = {
            "renewalId": renewal_id,
            "issuedAt": clock.now().isoformat(),
            "certificateId": cert["certificateId"],
            "certificatePem": cert["certificatePem"],
        }
        client("iot-data").publish(
            topic=certificate_topic(inc.edgeId), qos=1, payload=json.dumps(body).encode()
        )
        return {k: cert[k] for k in ("certificateArn", "certificateId", "certificatePem")}

    def verify(cert: dict[str, Any]) -> str | None:
        iot = client("iot")
        status = iot.describe_certificate(certificateId=cert["certificateId"])[
            "certificateDescription"
        ]["status"]
        principals = iot.list_thing_principals(thingName=inc.edgeId)["principals"]
        if status != "ACTIVE":
            return f"certificate is {status}"
        if cert["certificateArn"] not in principals:
            return f"certificate not attached to {inc.edgeId}"
        return None

    cert = run.act(
        "edge_renew_certificate",
        target=inc.edgeId,
        why=f"{inc.edgeId} reported an expired MQTT certificate",
        plan=(
            f"issue a certificate for {inc.edgeId}'s CSR, attach it and send it to "
            f"{certificate_topic(inc.edgeId)}"
        ),
        do=renew,
        landed=issued,
        verify=verify,
        result=lambda c: (
            f"issued {c['certificateId'][:12]}... from the edge's CSR (its key never left "
            f"it), attached to {inc.edgeId}, sent on the claim channel"
        ),
        inverse=lambda c: {
            "api": "iot:UpdateCertificate + iot:DetachThingPrincipal",
            "certificateId": c["certificateId"],
            "newStatus": "INACTIVE",
        },
        details=lambda c: {"certificateId": c["certificateId"], "renewalId": renewal_id},
    )
    edge_registry.update(f"csr#{inc.edgeId}", {"usedBy": renewal_id})  # one certificate per CSR
    return {"commandId": renewal_id, "renewed": True, "certificateId": cert["certificateId"]}
