"""A small simulated world for the local runtime: functions with versions and a live
alias, their error alarms, feature flags. Its one rule: an alarm is OK exactly when
the alias serves a healthy version, re-evaluated whenever virtual time passes, the
way CloudWatch would re-evaluate the metric."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from .runtime import Pipeline

DEMO_WORLD = Path(__file__).parent / "worlds" / "demo.json"


class AlarmSpec(BaseModel):
    name: str
    metric: str = "Errors"
    namespace: str = "AWS/Lambda"
    threshold: float = 5


class AppConfigSpec(BaseModel):
    application: str
    environment: str
    profile: str
    flags: dict[str, bool]


class CodeDeploySpec(BaseModel):
    application: str
    group: str
    inProgress: bool = True


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    function: str
    alias: str = "live"
    versions: int = Field(ge=1)
    live: str
    healthyVersions: list[str]
    alarm: AlarmSpec
    tags: dict[str, str] = Field(default_factory=dict)
    appconfig: AppConfigSpec | None = None
    codedeploy: CodeDeploySpec | None = None


class WorldSpec(BaseModel):
    description: str = ""
    services: list[ServiceSpec]


def _zip(marker: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", f"# {marker}\ndef handler(event, context):\n    return {{}}\n")
    return buf.getvalue()


class World:
    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        self.services = {s.function: s for s in spec.services}
        #: AppConfig ids moto assigned, per function (for assertions and the timeline).
        self.appconfig_ids: dict[str, dict[str, str]] = {}
        self.codedeploy_ids: dict[str, str] = {}

    @classmethod
    def load(cls, path: Path = DEMO_WORLD) -> World:
        return cls(WorldSpec.model_validate(json.loads(path.read_text())))

    def seed(self, p: Pipeline) -> None:
        for svc in self.spec.services:
            self._seed_service(p, svc)

    def _seed_service(self, p: Pipeline, svc: ServiceSpec) -> None:
        lam, cw = p.client("lambda"), p.client("cloudwatch")
        tags = dict(svc.tags)
        if svc.appconfig:
            tags["selfheal:appconfig"] = self._seed_appconfig(p, svc.function, svc.appconfig)
        if svc.codedeploy:
            tags.update(self._seed_codedeploy(p, svc))
        lam.create_function(
            FunctionName=svc.function, Runtime="python3.12", Role=p.role_arn,
            Handler="app.handler", Code={"ZipFile": _zip("v0")}, Tags=tags,
        )
        for n in range(1, svc.versions + 1):
            lam.update_function_code(FunctionName=svc.function, ZipFile=_zip(f"v{n}"))
            lam.publish_version(FunctionName=svc.function, Description=f"release {n}")
        lam.create_alias(FunctionName=svc.function, Name=svc.alias, FunctionVersion=svc.live)
        cw.put_metric_alarm(
            AlarmName=svc.alarm.name, Namespace=svc.alarm.namespace, MetricName=svc.alarm.metric,
            Dimensions=[{"Name": "FunctionName", "Value": svc.function},
                        {"Name": "Resource", "Value": f"{svc.function}:{svc.alias}"}],
            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=svc.alarm.threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            AlarmDescription=f"{svc.function} errors >= {svc.alarm.threshold:g} per minute",
        )
        # Seeding sets the starting state quietly; the scenario's own event says what happened.
        cw.set_alarm_state(AlarmName=svc.alarm.name, StateValue=self.desired_state(p, svc),
                           StateReason="initial state of the simulated world")

    def _seed_appconfig(self, p: Pipeline, function: str, ac: AppConfigSpec) -> str:
        client = p.client("appconfig")
        app_id = client.create_application(Name=ac.application, Tags={"selfheal:managed": "true"})["Id"]
        profile_id = client.create_configuration_profile(
            ApplicationId=app_id, Name=ac.profile, LocationUri="hosted",
            Type="AWS.AppConfig.FeatureFlags",
        )["Id"]
        document = {
            "version": "1",
            "flags": {name: {"name": name} for name in ac.flags},
            "values": {name: {"enabled": on} for name, on in ac.flags.items()},
        }
        client.create_hosted_configuration_version(
            ApplicationId=app_id, ConfigurationProfileId=profile_id,
            Content=json.dumps(document).encode(), ContentType="application/json",
        )
        self.appconfig_ids[function] = {"application": app_id, "profile": profile_id,
                                        "environment": ac.environment}
        return f"{app_id}/{ac.environment}/{profile_id}"

    def _seed_codedeploy(self, p: Pipeline, svc: ServiceSpec) -> dict[str, str]:
        assert svc.codedeploy
        cd, cdspec = p.client("codedeploy"), svc.codedeploy
        cd.create_application(applicationName=cdspec.application, computePlatform="Lambda")
        cd.create_deployment_group(
            applicationName=cdspec.application, deploymentGroupName=cdspec.group,
            serviceRoleArn=p.role_arn,
        )
        if cdspec.inProgress:
            dep = cd.create_deployment(
                applicationName=cdspec.application, deploymentGroupName=cdspec.group,
                revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
            )
            self.codedeploy_ids[svc.function] = dep["deploymentId"]
        return {"selfheal:codedeploy-app": cdspec.application,
                "selfheal:codedeploy-group": cdspec.group}

    def live_version(self, p: Pipeline, svc: ServiceSpec) -> str:
        alias = p.client("lambda").get_alias(FunctionName=svc.function, Name=svc.alias)
        return str(alias["FunctionVersion"])

    def desired_state(self, p: Pipeline, svc: ServiceSpec) -> str:
        if svc.codedeploy and svc.function in self.codedeploy_ids:
            status = p.client("codedeploy").get_deployment(
                deploymentId=self.codedeploy_ids[svc.function])["deploymentInfo"]["status"]
            if status == "Stopped":
                return "OK" if svc.live in svc.healthyVersions else "ALARM"
            return "ALARM"
        return "OK" if self.live_version(p, svc) in svc.healthyVersions else "ALARM"

    def evaluate(self, p: Pipeline) -> None:
        """CloudWatch's part: move each alarm to the state the service's health implies."""
        cw = p.client("cloudwatch")
        for svc in self.spec.services:
            desired = self.desired_state(p, svc)
            current = cw.describe_alarms(AlarmNames=[svc.alarm.name])["MetricAlarms"][0]["StateValue"]
            if desired != current:
                reason = ("errors back under the threshold" if desired == "OK"
                          else "errors at or over the threshold")
                p.set_alarm_state(svc.alarm.name, desired, reason)

    def deploy(self, p: Pipeline, function: str, *, healthy: bool) -> str:
        """Publish a new version and point the alias at it, as a release pipeline would."""
        svc = self.services[function]
        lam = p.client("lambda")
        lam.update_function_code(FunctionName=function, ZipFile=_zip(f"deploy-{p.clock.now()}"))
        version = str(lam.publish_version(FunctionName=function)["Version"])
        if healthy:
            svc.healthyVersions.append(version)
        lam.update_alias(FunctionName=function, Name=svc.alias, FunctionVersion=version)
        return version

    def describe(self, p: Pipeline) -> dict[str, Any]:
        return {svc.function: {"live": self.live_version(p, svc)} for svc in self.spec.services}
