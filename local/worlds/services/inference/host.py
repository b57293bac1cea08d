"""The inference host (runbook 003 §4.1): a managed host (`selfheal:host=inference`) whose
process manager runs `face_analyzer` for real, with `systemctl` and `journalctl` on its
PATH as thin commands over pm2 (no systemd here). Faults are real: the process killed
(`kill -9`: the unit is failed, as a unit without `Restart=` stays), frozen (`SIGSTOP`:
running, answering nothing), a configuration it cannot start with, the unit gone."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..pm2_apps import Pm2Apps, free_port, wait_port

if TYPE_CHECKING:
    from local.world_api import Host, Pipeline

HERE = Path(__file__).resolve().parent
TAG = ("selfheal:host", "inference")
UNIT = "face_analyzer"
#: The described service (services/inference.json) the unit is.
DESCRIBED = {UNIT: "inference"}


@dataclass
class InferenceHost(Pm2Apps):
    pipeline: Pipeline
    host: Host | None = None
    ports: dict[str, int] = field(default_factory=dict)
    #: The unit's environment file's own line: where it listens.
    port_line: str = ""

    def build(self) -> InferenceHost:
        self.ports = {"INFERENCE_PORT": free_port()}
        host = self.pipeline.add_host("inference", {TAG[0]: TAG[1]})
        unit_dir = self.settle(host, DESCRIBED[UNIT])
        host.closers.append(self.close)
        for program in ("systemctl", "journalctl"):
            # The system's manager: its units wherever it is called from, root's pm2.
            host.add_command(
                program,
                f'#!/bin/sh\ncd "{unit_dir}" || exit 1\nexport HOME="{host.home("root")}"\n'
                f'exec "{sys.executable}" "{HERE / "systemd.py"}" {program} "$@"\n',
            )
        units = {UNIT: {"port": self.ports["INFERENCE_PORT"], "description": "Face analyzer"}}
        (unit_dir / "units.json").write_text(json.dumps(units, indent=1))
        self.port_line = f"INFERENCE_PORT={self.ports['INFERENCE_PORT']}\n"
        (unit_dir / "face_analyzer.env").write_text(self.port_line)
        app = {
            "name": UNIT,
            "script": str(HERE / "app.py"),
            "interpreter": sys.executable,
            "cwd": str(unit_dir),
            "autorestart": False,  # a unit without Restart=: a killed service stays down
            "kill_timeout": 3000,
            # Named here, where journalctl reads them (pm2 would write "face-analyzer-*").
            **{
                f"{pm2_key}_file": str(unit_dir / "logs" / f"{UNIT}-{stream}.log")
                for pm2_key, stream in (("out", "out"), ("error", "error"))
            },
        }
        (unit_dir / "ecosystem.json").write_text(json.dumps({"apps": [app]}, indent=1))
        for stream in ("out", "error"):
            host.log_files[str(unit_dir / "logs" / f"{UNIT}-{stream}.log")] = (
                "/selfheal/services/inference"
            )
        return self

    # -- running -----------------------------------------------------------------------

    def start_all(self) -> None:
        assert self.host is not None
        self.pm2("start", str(self.app_dir / "ecosystem.json"))
        wait_port(self.ports["INFERENCE_PORT"], UNIT)

    def kill(self, app: str = UNIT) -> None:
        """The process dies (`kill -9`): `systemctl status` says failed."""
        self.kill_app(app)

    def break_config(self, app: str, reason: str) -> None:
        """A configuration the service cannot start with, read at its next start."""
        assert self.host is not None
        with (self.app_dir / "face_analyzer.env").open("a") as env:
            env.write(f"FACE_ANALYZER_BROKEN={reason}\n")

    def fix_config(self) -> None:
        """What people do after the page: the configuration fixed, the unit restarted."""
        assert self.host is not None
        (self.app_dir / "face_analyzer.env").write_text(self.port_line)
        self.pm2("restart", UNIT)
        wait_port(self.ports["INFERENCE_PORT"], UNIT)

    def close(self) -> None:
        if self.host is None:
            return
        self.kill_everything()
        self.host = None
