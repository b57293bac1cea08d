"""The ingestion domain's world (`ingestion_failover`): Aupus's ingestion backend on real
managed hosts (`aupus/`, runbook 004) and its scenes (`scenes.py`). Other worlds start
their own child processes with `Process` / `Processes` (`processes.py`), and Aupus hosts
with `AupusDeployment` / `AupusHost`."""

from .aupus import AupusDeployment, AupusHost
from .processes import READY, Process, Processes
from .scenes import SCENES

__all__ = ["READY", "SCENES", "AupusDeployment", "AupusHost", "Process", "Processes"]
