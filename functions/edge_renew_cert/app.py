"""Renew an edge's expired MQTT certificate: new keys and certificate in IoT Core,
the edge policy and thing attached, the new config published to the edge's agent."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from pydantic import BaseModel
from selfheal_shared import clock, edges
from selfheal_shared.clients import client
from selfheal_shared.edges import AUTOMATION
from selfheal_shared.edges import EdgeIncident as Incident
from selfheal_shared.protocol import Run, remediator


class RenewRequest(BaseModel):
    incident: Incident


@remediator(
    RenewRequest,
    actor="edge_renew_cert",
    automation=AUTOMATION,
    what="certificate renewal",
    scopes=lambda r: edges.silence_scopes(r.incident),
)
def handler(run: Run[RenewRequest]) -> dict[str, Any]:
    inc = run.request.incident
    command_id = f"renew-{uuid.uuid4().hex[:12]}"

    def renew() -> dict[str, Any]:
        iot = client("iot")
        cert: dict[str, Any] = iot.create_keys_and_certificate(setAsActive=True)
        iot.attach_policy(
            policyName=os.environ.get("SELFHEAL_EDGE_POLICY", "selfheal-edge"),
            target=cert["certificateArn"],
        )
        iot.attach_thing_principal(thingName=inc.edgeId, principal=cert["certificateArn"])
        body = {
            "commandId": command_id,
            "command": "renew",
            "issuedAt": clock.now().isoformat(),
            "certificateArn": cert["certificateArn"],
            "certificatePem": cert["certificatePem"],
            "privateKey": cert["keyPair"]["PrivateKey"],
        }
        client("iot-data").publish(
            topic=f"lifo4/{inc.edgeId}/commands/renew", qos=1, payload=json.dumps(body).encode()
        )
        return cert

    cert = run.act(
        "edge_renew_certificate",
        target=inc.edgeId,
        why=f"{inc.edgeId} reported an expired MQTT certificate",
        plan=f"issue a certificate for {inc.edgeId}, attach it and publish the config",
        do=renew,
        result=lambda c: (
            f"issued {c['certificateId'][:12]}..., attached to {inc.edgeId}, config published"
        ),
        inverse=lambda c: {
            "api": "iot:UpdateCertificate",
            "certificateId": c["certificateId"],
            "newStatus": "INACTIVE",
        },
    )
    return {"commandId": command_id, "certificateId": cert["certificateId"]}
