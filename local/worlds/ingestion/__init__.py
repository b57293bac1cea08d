"""The ingestion domain's world (`ingestion_failover`): real ingestion instances on
127.0.0.1 and their hosts' SSM agent (`instances.py`), its scenes (`scenes.py`), and
Aupus's ingestion backend on real managed hosts (`aupus/`, runbook 004). Other worlds
start their own processes with its `Process` / `Processes`, and Aupus hosts with
`AupusDeployment` / `AupusHost`."""

from .aupus import AupusDeployment, AupusHost
from .instances import READY, Process, Processes, mode_of
from .scenes import SCENES

__all__ = ["READY", "SCENES", "AupusDeployment", "AupusHost", "Process", "Processes", "mode_of"]
