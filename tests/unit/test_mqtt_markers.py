"""Runbook 004 passo 2 "pm2 logs aupus-api --lines 100 | grep MQTT", read: only the markers
the runbook names are interpreted; any other MQTT line is said to be not recognized. The
lines are the Aupus backend's own (local/worlds/ingestion/aupus/app.py prints the runbook's
lines) as pm2 writes them to its log files, and `pm2 logs` output as captured from the real
pm2 (tests/fixtures/host_output/aupus/). The workflow tests read them from the live
backend (tests/workflow/services/test_service_recovery.py)."""

from __future__ import annotations

import json

from selfheal_cdk import spec as spec_mod
from selfheal_shared.services import mqtt_markers

FIXTURES = spec_mod.ROOT / "tests" / "fixtures" / "host_output" / "aupus"


def test_a_p2002_in_pm2_logs_output_is_the_instance_conflict_not_a_plain_error() -> None:
    """Captured `pm2 logs aupus-api --lines 100 --nostream | grep P2002` (colours, prefix)."""
    out = json.loads((FIXTURES / "pm2_logs_p2002.json").read_text())["stdout"]
    r = mqtt_markers.read(out.splitlines())
    assert (r.conflicts, r.errors, r.notRecognized) == (1, 0, 0)
    assert r.summary() == (
        "1 P2002 unique-constraint error(s): two instances in production (runbook 004 "
        "'Conflito de Instâncias')"
    )


def test_the_last_connection_wins_over_an_earlier_offline_alert() -> None:
    lines = [
        "🚀 [MQTT] MODO PRODUÇÃO - Instância: production-server",
        "✅ [MQTT] Conectado com sucesso!",
        "📡 [MQTT] Carregando 4 tópicos MQTT...",
        "🔴 [MQTT] ALERTA CRÍTICO: Broker OFFLINE!",
        "❌ [MQTT] ERRO: não foi possível conectar ao broker 127.0.0.1:1883",
        "✅ [MQTT] Conectado com sucesso!",
        "📡 [MQTT] Carregando 0 tópicos MQTT...",
    ]
    r = mqtt_markers.read(lines)
    assert (r.mode, r.instance, r.broker, r.topics, r.errors) == (
        "production", "production-server", "connected", 0, 1
    )  # fmt: skip
    assert r.summary() == (
        "last start in MODO PRODUÇÃO (instance production-server); connected to the broker "
        "(Conectado com sucesso); 0 topics loaded at the last connection (Carregando 0 "
        "tópicos): nothing subscribed; 1 MQTT error(s) (ERRO), the last: não foi possível "
        "conectar ao broker 127.0.0.1:1883"
    )


def test_development_mode_and_simulated_flushes_say_nothing_is_saved() -> None:
    """Runbook 004 "Validação Final": "🔧 [MQTT] MODO DESENVOLVIMENTO", "📨 [DEV] Buffer
    flush simulado (não salva)"; pm2's `N|name | ` prefix as `pm2 logs` prints it."""
    lines = [
        "0|aupus-ap | 🔧 [MQTT] MODO DESENVOLVIMENTO",
        "0|aupus-ap | 📨 [DEV] Buffer flush simulado (não salva)",
        "0|aupus-ap | 📨 [DEV] Buffer flush simulado (não salva)",
    ]
    r = mqtt_markers.read(lines)
    assert r.summary() == (
        "last start in MODO DESENVOLVIMENTO: readings are NOT saved (runbook 004 passo 3: DEVE "
        "SER production); 2 simulated buffer flush(es): not saved (development)"
    )


def test_lines_the_runbook_does_not_name_are_not_recognized_never_guessed() -> None:
    lines = [
        "📡 [MQTT] 4 tópicos inscritos",
        "💾 [MQTT] Buffer flush: 1 registro(s) salvo(s)",
        "🌐 [HTTP] aupus-api escutando em http://127.0.0.1:3000",
    ]
    r = mqtt_markers.read(lines)
    assert not r.recognized
    assert r.summary() == (
        "none of the runbook's markers in the 3 lines read; 2 other MQTT line(s) not recognized"
    )
    assert mqtt_markers.read([]).summary() == "none of the runbook's markers in the 0 lines read"
