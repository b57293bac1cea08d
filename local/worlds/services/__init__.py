"""The services domain's world (`service_recovery`): real processes on 127.0.0.1 standing
in for the described services (issue 12): an HTTP service with a real `/health`, a queue a
worker really consumes, an ingestion process that really writes data points. `proc.py` is
one process (a script); `sim.py` starts, breaks and restarts them and answers SSM Run
Command for the local runtime; `scenes.py` breaks one as each sample's alarm says (the
data world's scene uses `scene` too)."""

from .scenes import SCENES, scene
from .sim import ServiceSim, attach, needed_for, reserve_port, running

__all__ = ["SCENES", "ServiceSim", "attach", "needed_for", "reserve_port", "running", "scene"]
