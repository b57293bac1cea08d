"""The ingestion domain's world (`ingestion_failover`): real ingestion instances on
127.0.0.1 and their hosts' SSM agent (`instances.py`), and its scenes (`scenes.py`). Other
worlds start their own processes with its `Process` / `Processes`."""

from .instances import READY, Process, Processes, mode_of
from .scenes import SCENES

__all__ = ["READY", "SCENES", "Process", "Processes", "mode_of"]
