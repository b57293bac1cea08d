"""The battery domain's world (`battery_alarm`, `cell_imbalance`, `edge_alarm_intake`,
`emergency_stop`, `over_temperature`): its scenes (`scenes.py`), on the edge world's
simulated controllers. It seeds nothing of its own: its edges are the edge world's."""

from .scenes import SCENES

__all__ = ["SCENES"]
