"""The deploy domain's world (`rollback_on_5xx`): functions behind a live alias, their
flags and CodeDeploy groups, REST APIs, composite alarms (`world.py`); the data platform a
critical failure acts on (`critical.py`) and its demo scene (`scenes.py`). Other worlds use
its AppConfig marking (`MANAGED`, `tag_environment`) and its Lambda packages."""

from .critical import CriticalPlatform
from .scenes import SCENES
from .world import (
    MANAGED,
    AlarmSpec,
    ApiRouteSpec,
    ApiSpec,
    AppConfigSpec,
    CodeDeploySpec,
    CompositeAlarmSpec,
    DeploySpec,
    DeployWorld,
    ServiceSpec,
    lambda_zip,
    tag_environment,
)

__all__ = [
    "MANAGED",
    "SCENES",
    "AlarmSpec",
    "ApiRouteSpec",
    "ApiSpec",
    "AppConfigSpec",
    "CodeDeploySpec",
    "CompositeAlarmSpec",
    "CriticalPlatform",
    "DeploySpec",
    "DeployWorld",
    "ServiceSpec",
    "lambda_zip",
    "tag_environment",
]
