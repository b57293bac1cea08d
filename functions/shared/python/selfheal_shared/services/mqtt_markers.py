"""What the Aupus backend's log lines say, read as runbook 004 reads them (passo 2
"Verificar logs do MQTT: pm2 logs aupus-api --lines 100 | grep MQTT" and what it says to
look for: "✅ [MQTT] Conectado com sucesso!", "❌ [MQTT] ERRO:", "🔴 [MQTT] ALERTA CRÍTICO:
Broker OFFLINE!"; "🚀 [MQTT] MODO PRODUÇÃO - Instância: ...", "📡 [MQTT] Carregando N
tópicos MQTT...", "🔧 [MQTT] MODO DESENVOLVIMENTO", "📨 [DEV] Buffer flush simulado (não
salva)", "Buffer muito grande", "P2002: Unique constraint failed").

Only those markers are interpreted; any other MQTT line is counted as not recognized,
never guessed at. Lines are read as pm2 writes its log files (what the CloudWatch agent
ships) and as `pm2 logs` prints them (an `N|name | ` prefix, colours): a marker is found
anywhere in the line. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: `pm2 logs` colours its prefix (tests/fixtures/host_output/aupus/pm2_logs_p2002.json).
ANSI = re.compile(r"\x1b\[[0-9;]*m")

PRODUCTION = re.compile(r"\[MQTT\] MODO PRODUÇÃO(?: - Instância: (?P<instance>\S+))?")
DEVELOPMENT = re.compile(r"\[MQTT\] MODO DESENVOLVIMENTO")
CONNECTED = re.compile(r"\[MQTT\] Conectado com sucesso")
OFFLINE = re.compile(r"\[MQTT\] ALERTA CRÍTICO: Broker OFFLINE")
LOADING = re.compile(r"\[MQTT\] Carregando (?P<n>\d+) tópicos")
P2002 = re.compile(r"P2002: Unique constraint failed")
ERROR = re.compile(r"\[MQTT\] ERRO:\s*(?P<what>.*)$")
SIMULATED = re.compile(r"\[DEV\] Buffer flush simulado")
BUFFER = re.compile(r"Buffer muito grande")


@dataclass
class Reading:
    """What the markers say, the latest of each kind winning (a reconnect after an
    OFFLINE alert is connected)."""

    mode: str = ""  # "production" / "development", from the last start line
    instance: str = ""
    broker: str = ""  # "connected" / "offline", from the last of the two
    topics: int | None = None  # the last "Carregando N tópicos"
    errors: int = 0
    lastError: str = ""
    conflicts: int = 0  # P2002
    simulated: int = 0  # "[DEV] Buffer flush simulado (não salva)"
    bufferTooLarge: int = 0
    notRecognized: int = 0  # MQTT lines none of the runbook's markers matches
    read: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def recognized(self) -> bool:
        return bool(self.findings)

    def summary(self) -> str:
        """One sentence for a page: what the runbook's markers say, in its words."""
        said: list[str] = []
        if self.mode == "production":
            said.append(
                "last start in MODO PRODUÇÃO"
                + (f" (instance {self.instance})" if self.instance else "")
            )
        elif self.mode == "development":
            said.append(
                "last start in MODO DESENVOLVIMENTO: readings are NOT saved (runbook 004 "
                "passo 3: DEVE SER production)"
            )
        if self.broker == "connected":
            said.append("connected to the broker (Conectado com sucesso)")
        elif self.broker == "offline":
            said.append(
                "broker OFFLINE (ALERTA CRÍTICO), no reconnection logged after it: check "
                "the broker (runbook 004 passo 4)"
            )
        if self.topics == 0:
            said.append(
                "0 topics loaded at the last connection (Carregando 0 tópicos): nothing subscribed"
            )
        elif self.topics is not None:
            said.append(
                f"{self.topics} topics loaded at the last connection (Carregando "
                f"{self.topics} tópicos)"
            )
        if self.conflicts:
            said.append(
                f"{self.conflicts} P2002 unique-constraint error(s): two instances in "
                "production (runbook 004 'Conflito de Instâncias')"
            )
        if self.errors:
            said.append(f"{self.errors} MQTT error(s) (ERRO), the last: {self.lastError}")
        if self.simulated:
            said.append(f"{self.simulated} simulated buffer flush(es): not saved (development)")
        if self.bufferTooLarge:
            said.append(f"'Buffer muito grande' {self.bufferTooLarge} time(s): buffer overflow")
        if not said:
            said.append(f"none of the runbook's markers in the {self.read} lines read")
        if self.notRecognized:
            said.append(f"{self.notRecognized} other MQTT line(s) not recognized")
        return "; ".join(said)


def read(lines: list[str]) -> Reading:
    """The markers in `lines` (oldest first)."""
    r = Reading(read=len(lines))
    for raw in lines:
        line = ANSI.sub("", raw).rstrip()
        if m := PRODUCTION.search(line):
            r.mode, r.instance = "production", m.group("instance") or ""
            r.findings.append("production")
        elif DEVELOPMENT.search(line):
            r.mode, r.instance = "development", ""
            r.findings.append("development")
        elif CONNECTED.search(line):
            r.broker = "connected"
            r.findings.append("connected")
        elif OFFLINE.search(line):
            r.broker = "offline"
            r.findings.append("offline")
        elif m := LOADING.search(line):
            r.topics = int(m.group("n"))
            r.findings.append(f"topics={r.topics}")
        elif P2002.search(line):
            r.conflicts += 1
            r.findings.append("P2002")
        elif m := ERROR.search(line):
            r.errors += 1
            r.lastError = m.group("what")[:200] or "(no text)"
            r.findings.append("error")
        elif SIMULATED.search(line):
            r.simulated += 1
            r.findings.append("simulated")
        elif BUFFER.search(line):
            r.bufferTooLarge += 1
            r.findings.append("buffer")
        elif "MQTT" in line:
            r.notRecognized += 1
    return r
