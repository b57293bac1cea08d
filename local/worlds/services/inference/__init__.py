"""The inference host (runbook 003 §4.1), for real: `face_analyzer` run by pm2 on a managed
host the local SSM agent runs commands on, with `systemctl`/`journalctl` there as thin
commands over pm2 (there is no systemd here)."""

from .host import InferenceHost

__all__ = ["InferenceHost"]
