"""The deploy domain's world (`rollback_on_5xx`): functions with versions and a live
alias, their error alarms, feature flags, REST APIs in front of them, composite alarms.
Its one rule: a function's alarm is OK exactly when the alias serves a healthy version and
none of its bad flags is on in the deployed configuration; an API stage's 5XX alarm is OK
when every function it integrates is; a composite (an OR of `ALARM(child)` terms) is in
ALARM when a child is. Re-evaluated whenever virtual time passes, the way CloudWatch would
re-evaluate the metrics. These are the world's own alarms; the alarms of `events/alarms/`
are created by the pipeline and evaluated from metric data (local/alarms.py)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from selfheal_shared.deploy.rollback import alarm_rule_children

from local.world_api import ACCOUNT, Pipeline

#: What marks an AppConfig resource as selfheal's to change: the IAM condition
#: `aws:ResourceTag/selfheal:managed` is evaluated on each resource a call names (the
#: application, its environment, its configuration profile), so each carries the tag.
MANAGED = {"selfheal:managed": "true"}


def tag_environment(client: Any, application: str, environment: str) -> None:
    """moto keeps no AppConfig environments, but keeps tags by ARN: the environment's."""
    region = client.meta.region_name
    arn = (
        f"arn:aws:appconfig:{region}:{ACCOUNT}:application/{application}/environment/{environment}"
    )
    client.tag_resource(ResourceArn=arn, Tags=MANAGED)


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
    #: The world's own alarm, moved by the world's rule; None when the pipeline creates the
    #: function's alarm from the `lambda-errors` definition and evaluates it from metric data
    #: (`Pipeline(alarm_instances=...)`, local/alarms.py).
    alarm: AlarmSpec | None
    tags: dict[str, str] = Field(default_factory=dict)
    appconfig: AppConfigSpec | None = None
    codedeploy: CodeDeploySpec | None = None
    #: Flags that make the function fail while on (a configuration problem, runbook 001 D1).
    badFlags: list[str] = Field(default_factory=list)


class ApiRouteSpec(BaseModel):
    """One method of a REST API: a Lambda proxy integration, or `uri` for an HTTP one."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)
    method: str = "GET"
    function: str = ""
    #: The qualifier in the integration URI (may be `${stageVariables.x}`); "" = unqualified.
    qualifier: str = "live"
    uri: str | None = None


class ApiSpec(BaseModel):
    """A REST API with one stage and its 5XXError alarm (dimensions ApiName, Stage)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    stage: str = "prod"
    stageVariables: dict[str, str] = Field(default_factory=dict)
    routes: list[ApiRouteSpec]
    alarm: str
    threshold: float = 5


class CompositeAlarmSpec(BaseModel):
    name: str
    rule: str
    description: str = ""


class DeploySpec(BaseModel):
    """The deploy domain's sections of a world file."""

    services: list[ServiceSpec] = Field(default_factory=list)
    apis: list[ApiSpec] = Field(default_factory=list)
    compositeAlarms: list[CompositeAlarmSpec] = Field(default_factory=list)


def lambda_zip(marker: str) -> bytes:
    """A Lambda deployment package whose handler returns {} (`marker` tells versions apart)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", f"# {marker}\ndef handler(event, context):\n    return {{}}\n")
    return buf.getvalue()


class DeployWorld:
    """The deploy domain's part of `local.worlds.World`."""

    spec: DeploySpec

    def __init__(self, spec: DeploySpec) -> None:
        self.spec = spec
        self.services = {s.function: s for s in spec.services}
        #: AppConfig ids moto assigned, per function (for assertions and the timeline).
        self.appconfig_ids: dict[str, dict[str, str]] = {}
        self.codedeploy_ids: dict[str, str] = {}

    def seed_deploy(self, p: Pipeline) -> None:
        for svc in self.spec.services:
            self._seed_service(p, svc)
        for api in self.spec.apis:
            self._seed_api(p, api)
        for composite in self.spec.compositeAlarms:
            p.extensions.put_composite_alarm(composite.name, composite.rule, composite.description)
            p.client("cloudwatch").set_alarm_state(
                AlarmName=composite.name,
                StateValue=self.composite_state(p, composite),
                StateReason="initial state of the simulated world",
            )

    def _seed_service(self, p: Pipeline, svc: ServiceSpec) -> None:
        lam, cw = p.client("lambda"), p.client("cloudwatch")
        tags = dict(svc.tags)
        if svc.appconfig:
            tags["selfheal:appconfig"] = self._seed_appconfig(p, svc.function, svc.appconfig)
        if svc.codedeploy:
            tags.update(self._seed_codedeploy(p, svc))
        lam.create_function(
            FunctionName=svc.function,
            Runtime="python3.12",
            Role=p.role_arn,
            Handler="app.handler",
            Code={"ZipFile": lambda_zip("v0")},
            Tags=tags,
        )
        for n in range(1, svc.versions + 1):
            lam.update_function_code(FunctionName=svc.function, ZipFile=lambda_zip(f"v{n}"))
            lam.publish_version(FunctionName=svc.function, Description=f"release {n}")
        lam.create_alias(FunctionName=svc.function, Name=svc.alias, FunctionVersion=svc.live)
        if svc.alarm is None:
            return
        cw.put_metric_alarm(
            AlarmName=svc.alarm.name,
            Namespace=svc.alarm.namespace,
            MetricName=svc.alarm.metric,
            Dimensions=[
                {"Name": "FunctionName", "Value": svc.function},
                {"Name": "Resource", "Value": f"{svc.function}:{svc.alias}"},
            ],
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=svc.alarm.threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            AlarmDescription=f"{svc.function} errors >= {svc.alarm.threshold:g} per minute",
        )
        # Seeding sets the starting state quietly; the scenario's own event says what happened.
        cw.set_alarm_state(
            AlarmName=svc.alarm.name,
            StateValue=self.desired_state(p, svc),
            StateReason="initial state of the simulated world",
        )

    def _seed_api(self, p: Pipeline, api: ApiSpec) -> None:
        ag, cw = p.client("apigateway"), p.client("cloudwatch")
        api_id = ag.create_rest_api(name=api.name)["id"]
        root = next(
            r["id"] for r in ag.get_resources(restApiId=api_id)["items"] if r["path"] == "/"
        )
        resources: dict[str, str] = {}
        for route in api.routes:
            if route.path not in resources:
                resources[route.path] = ag.create_resource(
                    restApiId=api_id, parentId=root, pathPart=route.path.strip("/")
                )["id"]
            ag.put_method(
                restApiId=api_id,
                resourceId=resources[route.path],
                httpMethod=route.method,
                authorizationType="NONE",
            )
            if route.uri:
                kind, uri = "HTTP_PROXY", route.uri
            else:
                region, qualifier = (
                    p.extensions.region,
                    f":{route.qualifier}" if route.qualifier else "",
                )
                # The ARN, not a lookup: an integration may name a function that is not there.
                account = p.role_arn.split(":")[4]
                fn = f"arn:aws:lambda:{region}:{account}:function:{route.function}"
                kind = "AWS_PROXY"
                uri = (
                    f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
                    f"{fn}{qualifier}/invocations"
                )
            ag.put_integration(
                restApiId=api_id,
                resourceId=resources[route.path],
                httpMethod=route.method,
                type=kind,
                integrationHttpMethod="POST" if kind == "AWS_PROXY" else route.method,
                uri=uri,
            )
        ag.create_deployment(restApiId=api_id, stageName=api.stage, variables=api.stageVariables)
        cw.put_metric_alarm(
            AlarmName=api.alarm,
            Namespace="AWS/ApiGateway",
            MetricName="5XXError",
            Dimensions=[
                {"Name": "ApiName", "Value": api.name},
                {"Name": "Stage", "Value": api.stage},
            ],
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=api.threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            AlarmDescription=f"{api.name} ({api.stage}) 5XX >= {api.threshold:g} per minute",
        )
        cw.set_alarm_state(
            AlarmName=api.alarm,
            StateValue=self.api_state(p, api),
            StateReason="initial state of the simulated world",
        )

    def _seed_appconfig(self, p: Pipeline, function: str, ac: AppConfigSpec) -> str:
        client = p.client("appconfig")
        app_id = client.create_application(Name=ac.application, Tags=MANAGED)["Id"]
        profile_id = client.create_configuration_profile(
            ApplicationId=app_id,
            Name=ac.profile,
            LocationUri="hosted",
            Type="AWS.AppConfig.FeatureFlags",
            Tags=MANAGED,
        )["Id"]
        tag_environment(client, app_id, ac.environment)
        document = {
            "version": "1",
            "flags": {name: {"name": name} for name in ac.flags},
            "values": {name: {"enabled": on} for name, on in ac.flags.items()},
        }
        client.create_hosted_configuration_version(
            ApplicationId=app_id,
            ConfigurationProfileId=profile_id,
            Content=json.dumps(document).encode(),
            ContentType="application/json",
        )
        client.start_deployment(
            ApplicationId=app_id,
            EnvironmentId=ac.environment,
            DeploymentStrategyId="AppConfig.AllAtOnce",
            ConfigurationProfileId=profile_id,
            ConfigurationVersion="1",
        )
        self.appconfig_ids[function] = {
            "application": app_id,
            "profile": profile_id,
            "environment": ac.environment,
        }
        return f"{app_id}/{ac.environment}/{profile_id}"

    def _seed_codedeploy(self, p: Pipeline, svc: ServiceSpec) -> dict[str, str]:
        assert svc.codedeploy
        cd, cdspec = p.client("codedeploy"), svc.codedeploy
        cd.create_application(applicationName=cdspec.application, computePlatform="Lambda")
        cd.create_deployment_group(
            applicationName=cdspec.application,
            deploymentGroupName=cdspec.group,
            serviceRoleArn=p.role_arn,
        )
        if cdspec.inProgress:
            dep = cd.create_deployment(
                applicationName=cdspec.application,
                deploymentGroupName=cdspec.group,
                revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
            )
            self.codedeploy_ids[svc.function] = dep["deploymentId"]
        return {
            "selfheal:codedeploy-app": cdspec.application,
            "selfheal:codedeploy-group": cdspec.group,
        }

    def live_version(self, p: Pipeline, svc: ServiceSpec) -> str:
        alias = p.client("lambda").get_alias(FunctionName=svc.function, Name=svc.alias)
        return str(alias["FunctionVersion"])

    def desired_state(self, p: Pipeline, svc: ServiceSpec) -> str:
        if any(self._flag_on(p, svc, flag) for flag in svc.badFlags):
            return "ALARM"
        if svc.codedeploy and svc.function in self.codedeploy_ids:
            status = p.client("codedeploy").get_deployment(
                deploymentId=self.codedeploy_ids[svc.function]
            )["deploymentInfo"]["status"]
            if status == "Stopped":
                return "OK" if svc.live in svc.healthyVersions else "ALARM"
            return "ALARM"
        return "OK" if self.live_version(p, svc) in svc.healthyVersions else "ALARM"

    def _flag_on(self, p: Pipeline, svc: ServiceSpec, flag: str) -> bool:
        """Whether a flag is on in the configuration AppConfig last deployed."""
        ids = self.appconfig_ids.get(svc.function)
        if ids is None:
            return False
        deployed = [
            d
            for d in p.extensions.appconfig_deployments
            if d["ApplicationId"] == ids["application"]
            and d["ConfigurationProfileId"] == ids["profile"]
        ]
        if not deployed:
            return False
        version = max(deployed, key=lambda d: d["DeploymentNumber"])["ConfigurationVersion"]
        doc = json.loads(
            p.client("appconfig")
            .get_hosted_configuration_version(
                ApplicationId=ids["application"],
                ConfigurationProfileId=ids["profile"],
                VersionNumber=int(version),
            )["Content"]
            .read()
        )
        return bool(doc.get("values", {}).get(flag, {}).get("enabled", False))

    def api_state(self, p: Pipeline, api: ApiSpec) -> str:
        """5XX at the stage when a function it integrates fails."""
        failing = [
            r.function
            for r in api.routes
            if r.function in self.services
            and self.desired_state(p, self.services[r.function]) == "ALARM"
        ]
        return "ALARM" if failing else "OK"

    def composite_state(self, p: Pipeline, composite: CompositeAlarmSpec) -> str:
        """An OR of `ALARM(child)` terms (the only rule the world's composites use)."""
        children = alarm_rule_children(composite.rule)
        found = p.client("cloudwatch").describe_alarms(AlarmNames=children)["MetricAlarms"]
        return "ALARM" if any(a["StateValue"] == "ALARM" for a in found) else "OK"

    def evaluate_deploy(self, p: Pipeline) -> None:
        """CloudWatch's part: move each alarm to the state the service's health implies."""
        cw = p.client("cloudwatch")
        # In this order: an API's alarm follows its functions', a composite its children's.
        alarms: list[tuple[str, ServiceSpec | ApiSpec | CompositeAlarmSpec]] = [
            *((svc.alarm.name, svc) for svc in self.spec.services if svc.alarm),
            *((api.alarm, api) for api in self.spec.apis),
            *((c.name, c) for c in self.spec.compositeAlarms),
        ]
        for name, thing in alarms:
            if isinstance(thing, ServiceSpec):
                desired = self.desired_state(p, thing)
            elif isinstance(thing, ApiSpec):
                desired = self.api_state(p, thing)
            else:
                desired = self.composite_state(p, thing)
            found = cw.describe_alarms(
                AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
            current = (found["MetricAlarms"] + found["CompositeAlarms"])[0]["StateValue"]
            if desired != current:
                reason = (
                    "errors back under the threshold"
                    if desired == "OK"
                    else "errors at or over the threshold"
                )
                p.set_alarm_state(name, desired, reason)

    def deploy(self, p: Pipeline, function: str, *, healthy: bool) -> str:
        """Publish a new version and point the alias at it, as a release pipeline would."""
        svc = self.services[function]
        lam = p.client("lambda")
        lam.update_function_code(
            FunctionName=function, ZipFile=lambda_zip(f"deploy-{p.clock.now()}")
        )
        version = str(lam.publish_version(FunctionName=function)["Version"])
        if healthy:
            svc.healthyVersions.append(version)
        lam.update_alias(FunctionName=function, Name=svc.alias, FunctionVersion=version)
        return version

    def deploy_flags(self, p: Pipeline, function: str, values: dict[str, bool]) -> str:
        """Save a configuration with these flag values and deploy it, as a release would
        (AppConfig records the deployment at virtual time); the new version number."""
        ids = self.appconfig_ids[function]
        ac = p.client("appconfig")
        latest = max(
            int(v["VersionNumber"])
            for v in ac.list_hosted_configuration_versions(
                ApplicationId=ids["application"], ConfigurationProfileId=ids["profile"]
            )["Items"]
        )
        doc = json.loads(
            ac.get_hosted_configuration_version(
                ApplicationId=ids["application"],
                ConfigurationProfileId=ids["profile"],
                VersionNumber=latest,
            )["Content"].read()
        )
        for name, on in values.items():
            doc.setdefault("values", {})[name] = {"enabled": on}
        version = ac.create_hosted_configuration_version(
            ApplicationId=ids["application"],
            ConfigurationProfileId=ids["profile"],
            Content=json.dumps(doc).encode(),
            ContentType="application/json",
        )["VersionNumber"]
        ac.start_deployment(
            ApplicationId=ids["application"],
            EnvironmentId=ids["environment"],
            DeploymentStrategyId="AppConfig.AllAtOnce",
            ConfigurationProfileId=ids["profile"],
            ConfigurationVersion=str(version),
        )
        return str(version)

    def describe(self, p: Pipeline) -> dict[str, Any]:
        return {svc.function: {"live": self.live_version(p, svc)} for svc in self.spec.services}
