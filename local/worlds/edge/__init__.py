"""The edge domain's world (`edge_offline_ladder`, `edge_silence`, `forced_ota`): the sites'
controllers as IoT things (`sites.py`), simulated controllers on a real broker (`sim.py`)
and its scenes and demo story (`scenes.py`). The battery world's scenes use its
simulated edge (`EdgeSim`, `sample_edge`)."""

from .scenes import ACTS, EDGE, SCENES, sample_edge
from .sim import CommandLog, EdgeSim, Failure, keep_reporting
from .sites import EdgeSiteSpec, EdgeSpec, EdgeWorld

__all__ = [
    "ACTS",
    "EDGE",
    "SCENES",
    "CommandLog",
    "EdgeSim",
    "EdgeSiteSpec",
    "EdgeSpec",
    "EdgeWorld",
    "Failure",
    "keep_reporting",
    "sample_edge",
]
