"""The data platform a critical failure (runbook 001 D2, `critical_failure`) acts on, as
deployed: the critical functions of config/critical_failure.json, the feature-flag profile
named there (the two non-critical flags on, and one the configuration does not list), and
its CodeDeploy application with one deployment InProgress and one Succeeded. Built with an
administrator's calls; the tests and the demo's scene share it."""

from __future__ import annotations

import json
from typing import Any

from moto.codedeploy.models import codedeploy_backends
from selfheal_shared.deploy import critical

from local.world_api import Pipeline

from .world import MANAGED, lambda_zip, tag_environment

#: On in production: the runbook's two non-critical flags, and one it does not list.
FLAGS = {"enable_new_api_endpoint": True, "enable_enhanced_processing": True, "billing": True}
#: The CodeDeploy groups and the status of the deployment each holds.
GROUPS = {"router-live": "InProgress", "loader-live": "Succeeded"}


class CriticalPlatform:
    def __init__(self, p: Pipeline) -> None:
        self.p = p
        cfg = critical.config()
        self.functions = list(cfg.functions)
        lam = p.client("lambda")
        for name in cfg.functions:
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=p.role_arn,
                Handler="app.handler",
                Code={"ZipFile": lambda_zip(name)},
            )
        ac, where = p.client("appconfig"), cfg.appconfig
        self.app = ac.create_application(Name=where.application, Tags=MANAGED)["Id"]
        #: The environment's id: AWS's own, not the name the configuration holds.
        self.environment = ac.create_environment(ApplicationId=self.app, Name=where.environment)[
            "Id"
        ]
        self.profile = ac.create_configuration_profile(
            ApplicationId=self.app,
            Name=where.profile,
            LocationUri="hosted",
            Type="AWS.AppConfig.FeatureFlags",
            Tags=MANAGED,
        )["Id"]
        tag_environment(ac, self.app, self.environment)
        self.deploy_flags(FLAGS)
        cd = p.client("codedeploy")
        self.codedeploy_app = cfg.codedeployApplications[0]
        cd.create_application(applicationName=self.codedeploy_app, computePlatform="Lambda")
        #: status at seeding -> deployment id
        self.deployments: dict[str, str] = {}
        for group, status in GROUPS.items():
            cd.create_deployment_group(
                applicationName=self.codedeploy_app,
                deploymentGroupName=group,
                serviceRoleArn=p.role_arn,
            )
            dep = cd.create_deployment(
                applicationName=self.codedeploy_app,
                deploymentGroupName=group,
                revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
            )["deploymentId"]
            # moto creates every deployment "Created" under a random id; CodeDeploy would be
            # rolling this one, and the demo's timelines need the same id every run.
            backend = self._backend()
            info = backend.deployments.pop(dep)
            info.deployment_id = f"d-{group.split('-')[0].upper()}0001"
            info.status = status
            backend.deployments[info.deployment_id] = info
            self.deployments[status] = info.deployment_id

    def _backend(self) -> Any:
        account = self.p.role_arn.split(":")[4]
        return codedeploy_backends[account][self.p.extensions.region]

    def status(self, dep: str) -> str:
        info = self.p.client("codedeploy").get_deployment(deploymentId=dep)["deploymentInfo"]
        return str(info["status"])

    def deploy_flags(self, values: dict[str, bool]) -> None:
        """Save and deploy a configuration with these flag values, as a release would."""
        ac = self.p.client("appconfig")
        doc = {
            "version": "1",
            "flags": {n: {"name": n} for n in FLAGS},
            "values": {n: {"enabled": on} for n, on in values.items()},
        }
        version = ac.create_hosted_configuration_version(
            ApplicationId=self.app,
            ConfigurationProfileId=self.profile,
            Content=json.dumps(doc).encode(),
            ContentType="application/json",
        )["VersionNumber"]
        ac.start_deployment(
            ApplicationId=self.app,
            EnvironmentId=self.environment,
            DeploymentStrategyId="AppConfig.AllAtOnce",
            ConfigurationProfileId=self.profile,
            ConfigurationVersion=str(version),
        )

    def flags(self) -> dict[str, bool]:
        """What AppConfig deploys now."""
        ac = self.p.client("appconfig")
        items = ac.list_deployments(ApplicationId=self.app, EnvironmentId=self.environment)["Items"]
        version = max(items, key=lambda d: d["DeploymentNumber"])["ConfigurationVersion"]
        doc = json.loads(
            ac.get_hosted_configuration_version(
                ApplicationId=self.app,
                ConfigurationProfileId=self.profile,
                VersionNumber=int(version),
            )["Content"].read()
        )
        return {n: bool(v.get("enabled")) for n, v in doc["values"].items()}

    def errors(self, per_minute: dict[str, float]) -> None:
        """What Lambda publishes for the minute: Errors per critical function."""
        self.p.client("cloudwatch").put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": name}],
                    "Value": per_minute.get(name, 0.0),
                    "Timestamp": self.p.clock.now(),
                }
                for name in self.functions
            ],
        )
