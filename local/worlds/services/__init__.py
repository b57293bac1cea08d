"""The services domain's world (`service_recovery`): the described services on real hosts
(issue 21): the Equivalence Engine's web, worker, Redis and PostgreSQL (`equivalence/`), the
inference service (`inference/`), the Aupus site (`aupus_site.py`); `sim.py` starts and
breaks them for the tests and scenes; `scenes.py` breaks one as each sample's alarm says
(the data world's scene uses `scene` too)."""

from .scenes import SCENES, scene
from .sim import ServiceSim, attach, needed_for, running

__all__ = ["SCENES", "ServiceSim", "attach", "needed_for", "running", "scene"]
