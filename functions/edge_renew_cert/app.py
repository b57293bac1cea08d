"""Renew an edge's expired MQTT certificate: new keys and certificate in IoT Core,
the edge policy and thing attached, the new config published to the edge's agent."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from pydantic import BaseModel
from selfheal_shared import audit, clock
from selfheal_shared.clients import client
from selfheal_shared.edges import EdgeIncident as Incident
from selfheal_shared.handler import remediator
from selfheal_shared.models import parse


class RenewRequest(BaseModel):
    incident: Incident


@remediator
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    inc = parse(RenewRequest, event, "certificate renewal").incident
    iot = client("iot")
    cert = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_policy(
        policyName=os.environ.get("SELFHEAL_EDGE_POLICY", "selfheal-edge"),
        target=cert["certificateArn"],
    )
    iot.attach_thing_principal(thingName=inc.edgeId, principal=cert["certificateArn"])
    command_id = f"renew-{uuid.uuid4().hex[:12]}"
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
    audit.record(
        incident_id=inc.incidentId,
        execution=inc.executionId,
        action="edge_renew_certificate",
        actor="edge_renew_cert",
        why=f"{inc.edgeId} reported an expired MQTT certificate",
        result=f"issued {cert['certificateId'][:12]}..., attached to {inc.edgeId}, "
        "config published",
        inverse={
            "api": "iot:UpdateCertificate",
            "certificateId": cert["certificateId"],
            "newStatus": "INACTIVE",
        },
    )
    return {"commandId": command_id, "certificateId": cert["certificateId"]}
