"""The external mapper as the engine's deployment knows it: the process (`mapper_service.py`,
a script) and its registration (its health URL and the engine's AppConfig flag profile)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from local.world_api import Pipeline
from local.worlds.deploy import MANAGED, tag_environment
from local.worlds.ingestion import Process

if TYPE_CHECKING:
    from selfheal_shared.api.mapper_mode import AppConfigTarget

#: The mapper process, started as a script.
SERVICE = Path(__file__).resolve().with_name("mapper_service.py")


def mapper(fail_first: int = 0, fail_at: tuple[int, ...] = ()) -> Process:
    """The process, not started: `Processes.add` starts it and kills it at the end."""
    args = [str(SERVICE), "--fail-first", str(fail_first)]
    return Process([*args, "--fail-at", ",".join(map(str, fail_at))])


def register(p: Pipeline, name: str, proc: Process) -> AppConfigTarget:
    """What the engine's deployment has: its AppConfig flag profile (`fallbackMapper` off)
    and the mapper `name` registered with its health URL and that profile."""
    from selfheal_shared.api import mapper_mode

    ac = p.client("appconfig")
    app = ac.create_application(Name="equivalence-engine", Tags=MANAGED)
    profile = ac.create_configuration_profile(
        ApplicationId=app["Id"],
        Name="feature-flags",
        LocationUri="hosted",
        Type="AWS.AppConfig.FeatureFlags",
        Tags=MANAGED,
    )
    # AppConfig takes the environment's id (AWS's own), never its name.
    env = ac.create_environment(ApplicationId=app["Id"], Name="production")["Id"]
    tag_environment(ac, app["Id"], env)
    target = mapper_mode.AppConfigTarget(
        application=app["Id"], environment=env, profile=profile["Id"]
    )
    mapper_mode.set_flag(target, "fallbackMapper", False, "seed", "initial configuration")
    p.client("ssm").put_parameter(
        Name=mapper_mode.parameter_name(name),
        Type="String",
        Value=json.dumps({"health": f"{proc.url}/health", "appconfig": target.model_dump()}),
    )
    return target
