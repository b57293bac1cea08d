"""The edge controllers of a world file's sites, registered in IoT Core as things with a
`siteId` (and the systems' `timezone`) attribute, as the fleet's provisioning does."""

from __future__ import annotations

from pydantic import BaseModel, Field

from local.world_api import Pipeline


class EdgeSiteSpec(BaseModel):
    """Edge controllers registered in IoT Core (things with a `siteId` attribute)."""

    siteId: str
    prefix: str
    count: int = Field(ge=1, le=5000)
    #: The systems' local time (an OTA's maintenance window is local, runbook 000 §2).
    timezone: str = "America/Sao_Paulo"

    def edge_ids(self) -> list[str]:
        return [f"{self.prefix}-{n:03d}" for n in range(1, self.count + 1)]


class EdgeSpec(BaseModel):
    """The edge domain's section of a world file."""

    edgeSites: list[EdgeSiteSpec] = Field(default_factory=list)


class EdgeWorld:
    """The edge domain's part of `local.worlds.World`."""

    spec: EdgeSpec

    def seed_edge(self, p: Pipeline) -> None:
        iot = p.client("iot") if self.spec.edgeSites else None
        for site in self.spec.edgeSites:
            for edge_id in site.edge_ids():
                assert iot is not None
                iot.create_thing(
                    thingName=edge_id,
                    attributePayload={
                        "attributes": {"siteId": site.siteId, "timezone": site.timezone}
                    },
                )
