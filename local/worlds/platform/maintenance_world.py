"""What the maintenance window (runbook 001 D7) needs of a deployment, seeded into moto:
the platform's feature-flag profile in AppConfig (enable_maintenance_mode off), the
processed and backup buckets tagged as the freeze finds them, the four functions the
runbook's health check lists, and the window's configuration registered in Parameter Store
(`/selfheal/platform/maintenance-window`), as a deployment registers it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from local.world_api import Pipeline
from local.worlds.deploy import MANAGED, lambda_zip, tag_environment

#: Runbook 001: `--functions lambda_router structured_data_processor rag_query_processor
#: influxdb_loader`.
HEALTH_FUNCTIONS = (
    "lambda_router",
    "structured_data_processor",
    "rag_query_processor",
    "influxdb_loader",
)
SCOPE = "ons-platform"
PROCESSED = "ons-processed"
BACKUP = "ons-processed-backup"
FLAG = "enable_maintenance_mode"


@dataclass(frozen=True)
class MaintenanceWorld:
    application: str
    environment: str
    profile: str
    processed: str
    backup: str

    def flag_on(self, p: Pipeline) -> bool:
        """Whether the configuration AppConfig last deployed has the flag on."""
        mine = [
            d
            for d in p.extensions.appconfig_deployments
            if d["ApplicationId"] == self.application
            and d["ConfigurationProfileId"] == self.profile
        ]
        version = max(mine, key=lambda d: d["DeploymentNumber"])["ConfigurationVersion"]
        doc = json.loads(
            p.client("appconfig")
            .get_hosted_configuration_version(
                ApplicationId=self.application,
                ConfigurationProfileId=self.profile,
                VersionNumber=int(version),
            )["Content"]
            .read()
        )
        return bool(doc["values"][FLAG]["enabled"])


def _buckets(p: Pipeline, objects: int) -> None:
    s3 = p.client("s3")
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    for bucket, role in ((PROCESSED, "processed"), (BACKUP, "backup")):
        if bucket in existing:
            continue
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_tagging(
            Bucket=bucket,
            Tagging={
                "TagSet": [
                    {"Key": "selfheal:ingestion", "Value": SCOPE},
                    {"Key": "selfheal:ingestion-bucket", "Value": role},
                ]
            },
        )
        if role == "processed":
            for n in range(objects):
                key = f"ons-carga/2026/12/0{1 + n % 7}/{n:04d}.json"
                s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"n": n}).encode())


def seed_maintenance(p: Pipeline, *, objects: int = 12) -> MaintenanceWorld:
    ac = p.client("appconfig")
    app = ac.create_application(Name="ons-data-platform", Tags=MANAGED)["Id"]
    profile = ac.create_configuration_profile(
        ApplicationId=app,
        Name="feature-flags",
        LocationUri="hosted",
        Type="AWS.AppConfig.FeatureFlags",
        Tags=MANAGED,
    )["Id"]
    # The parameter holds ids, as AppConfig takes them: the environment's is AWS's own.
    env = ac.create_environment(ApplicationId=app, Name="production")["Id"]
    tag_environment(ac, app, env)
    flags: dict[str, Any] = {FLAG: False, "new_dashboard": True}
    ac.create_hosted_configuration_version(
        ApplicationId=app,
        ConfigurationProfileId=profile,
        Content=json.dumps(
            {
                "version": "1",
                "flags": {f: {"name": f} for f in flags},
                "values": {f: {"enabled": on} for f, on in flags.items()},
            }
        ).encode(),
        ContentType="application/json",
    )
    ac.start_deployment(
        ApplicationId=app,
        EnvironmentId=env,
        DeploymentStrategyId="AppConfig.AllAtOnce",
        ConfigurationProfileId=profile,
        ConfigurationVersion="1",
    )
    _buckets(p, objects)
    lam = p.client("lambda")
    for name in HEALTH_FUNCTIONS:
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=p.role_arn,
            Handler="app.handler",
            Code={"ZipFile": lambda_zip(name)},
        )
    p.client("ssm").put_parameter(
        Name="/selfheal/platform/maintenance-window",
        Type="String",
        Value=json.dumps(
            {
                "appconfig": {
                    "application": app,
                    "environment": env,
                    "profile": profile,
                },
                "flag": FLAG,
                "healthFunctions": list(HEALTH_FUNCTIONS),
                "ingestionScope": SCOPE,
            }
        ),
    )
    return MaintenanceWorld(app, env, profile, PROCESSED, BACKUP)
