"""The api domain's world (`mapper_degraded`): a real external mapper on 127.0.0.1
(`mapper_service.py`, a script; `mapper.py` makes and registers it) and its scene."""

from .mapper import mapper, register
from .scenes import SCENES

__all__ = ["SCENES", "mapper", "register"]
