"""The running pipeline as the modules it is built from, and the worlds it hosts, see it.

`runtime.Pipeline` is the one implementation. The parts runtime.py builds on (the alarms,
the roles, the IoT bridge and Jobs plane, the buckets) and the simulated worlds
(`local/worlds/`, through `local/world_api.py`) name this Protocol instead of importing
runtime.py, which imports them: no module of `local/` imports one that imports it back
(`tests/contract/test_local_imports.py`). Everything here is read-only; the types it names
are imported for the type checker only, so importing this module costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from selfheal_cdk.spec import Spec

    from .clock import VirtualClock
    from .lambda_adapter import InProcessLambdas
    from .moto_extensions import Extensions
    from .sagemaker_local import TrainingJobs
    from .ssm_agent import Agent, Host

REGION = "us-east-1"
PREFIX = "selfheal"


def deployed_name(kind: str, name: str) -> str:
    """Local resource names; the CDK lets CloudFormation name them in AWS."""
    return f"{PREFIX}-{kind}-{name}".replace("_", "-")


class World(Protocol):
    """What the runtime asks of the simulated world it is given (`local.worlds.World`)."""

    def seed(self, p: Pipeline) -> None:
        """Create the world in moto before the first event (the pipeline stands built)."""

    def evaluate(self, p: Pipeline) -> None:
        """Virtual time passed: move the world's own alarms to the state its health implies."""


class Pipeline(Protocol):
    """`runtime.Pipeline`, as far as its parts and the worlds use it."""

    @property
    def spec(self) -> Spec: ...
    @property
    def clock(self) -> VirtualClock: ...
    @property
    def extensions(self) -> Extensions: ...
    @property
    def lambdas(self) -> InProcessLambdas: ...
    @property
    def training(self) -> TrainingJobs: ...
    @property
    def world(self) -> World: ...
    @property
    def role_arn(self) -> str: ...
    @property
    def state_machines(self) -> dict[str, str]: ...
    @property
    def tables(self) -> dict[str, str]: ...
    @property
    def topics(self) -> dict[str, str]: ...
    @property
    def buckets(self) -> dict[str, str]: ...
    @property
    def hosts(self) -> Agent: ...

    def add_host(self, name: str, tags: dict[str, str]) -> Host: ...

    def client(self, service: str) -> Any: ...

    def log(self, kind: str, text: str, *, seq: int | None = None, **data: Any) -> None: ...

    def put_event(
        self, event: dict[str, Any], bus: str = "default", *, rebase: bool = False
    ) -> list[str]: ...

    def set_alarm_state(self, name: str, value: str, reason: str) -> list[str]: ...

    def settle_alarm(self, name: str, value: str, reason: str) -> None: ...
