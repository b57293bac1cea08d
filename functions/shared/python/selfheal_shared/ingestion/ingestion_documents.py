"""The SSM Command documents the ingestion failover runs on the Aupus hosts (runbook 004):
the runbook's own commands, fixed in the document; the only values that vary are
parameters SSM validates (`allowedValues`, `allowedPattern`) before anything runs. No
event or input field is ever pasted into a command. Each runs where the runbook types it
(`host_shell`): in the login shell of the registry's `user` for that host, from the
instance's `directory` (its `.env`), or the database user's home for FENCE and WRITERS
(`psql -d <the registry's database>` as that user: peer authentication, or its PG*
variables).

- `OBSERVE` (read only, on an instance's host): `.env`'s MQTT_MODE and INSTANCE_ID, whether
  pm2 runs aupus-api, `/health/mqtt` (the mode the running app is in) and how many P2002
  lines its logs hold (runbook "Identificar todas as instâncias ativas");
- `SET_MODE` (on an instance's host): `mode` (production|development) into `.env`'s
  MQTT_MODE line, `pm2 restart aupus-api`, and wait until the app answers in that mode
  (runbook "Editar .env ... pm2 restart aupus-api"), printing what it then read (`.env`'s
  MQTT_MODE, `/health/mqtt`): the step's verification. No `--update-env`: MQTT_MODE stays
  `.env`'s, so a later edit still works. One switch at a time on a host (`flock` on
  `.selfheal.lock`, which OBSERVE takes shared: a reading never sees a switch half done);
- `FENCE` (on the database administration host): REVOKE (`fence`) or GRANT (`unfence`)
  INSERT on the readings table for one instance's role (`^aupus_[a-z0-9_]{1,40}$`): the
  fence that needs no cooperation from an unreachable instance; it prints the role's
  privilege after the change and, for every session whose application_name is the
  instance's INSTANCE_ID (its DATABASE_URL's `application_name`), the role it really
  logged in as and whether that role may INSERT now (the step's verification: a fence on
  a role the instance does not use does not hold);
- `WRITERS` (read only, on the database administration host): which INSTANCE_ID wrote how
  many rows since `since` (the database's own clock), the database's time now, and which
  instance roles may INSERT.
"""

from __future__ import annotations

from typing import Any

from ..core import host_shell

OBSERVE = "selfheal-IngestionObserve"
SET_MODE = "selfheal-IngestionSetMode"
FENCE = "selfheal-IngestionFence"
WRITERS = "selfheal-IngestionWriters"

ROLE_PATTERN = r"^aupus_[a-z0-9_]{1,40}$"
#: An instance's INSTANCE_ID (what its rows carry, and its sessions' application_name).
INSTANCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: The database's clock as WRITERS prints it (UTC, microseconds).
TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"
#: WRITERS' `since`: a time of the database's clock, or `recent` (the last 5 minutes).
SINCE_PATTERN = r"^(recent|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z)$"
MODES = ("production", "development")

# -- time: every wait has a bound, and each bound is inside the one that contains it ------
#: SendCommand's delivery timeout for these documents (SSM's minimum): a host whose agent
#: did not take the command by then does not answer.
DELIVERY_SECONDS = 30
#: SetMode: how long `pm2 restart aupus-api` takes (pm2 stops the app within its
#: kill_timeout; past this the execution timeout still bounds it), then how long the app
#: has to answer in the new mode (runbook 004 "Reiniciar backend ... Aguardar 30 segundos").
RESTART_SECONDS = 10
READY_SECONDS = 30
#: How long a switch holds the host's lock at most; OBSERVE (shared) and another SetMode
#: (exclusive) wait that long for it, so a reading never sees a switch half done.
HOLD_SECONDS = RESTART_SECONDS + READY_SECONDS
LOCK_SECONDS = HOLD_SECONDS + 5
#: Each document's execution timeout (the agent kills the script after it): its waits
#: plus the time its commands take (a psql, a curl of 3 s).
OBSERVE_SECONDS = LOCK_SECONDS + 15
SET_MODE_SECONDS = LOCK_SECONDS + HOLD_SECONDS + 5
PSQL_SECONDS = 30
TABLE = "equipamentos_dados"
#: (inside a double-quoted shell argument: the format's quotes escaped for the shell)
_UTC = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\\\"T\\\"HH24:MI:SS.US\\\"Z\\\"')"
#: The Aupus database, named by the registry (`psql` as the database user would otherwise
#: reach the database named after that user).
PSQL = "psql -X -v ON_ERROR_STOP=1 -qAt -F '|' -d '{{ database }}'"
DATABASE_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"
_DATABASE = {
    "database": {
        "type": "String",
        "description": "The Aupus database's name (from the registry)",
        "allowedPattern": DATABASE_PATTERN,
    }
}
#: Where pm2 keeps aupus-api's logs (the pm2 of the host's user).
PM2_LOGS = '"${PM2_HOME:-$HOME/.pm2}/logs"'


#: Where each document runs on its host (`host_shell`): as the registry's user, in the
#: instance's app directory (OBSERVE, SET_MODE) or the database user's home (FENCE, WRITERS).
_WHERE = {
    "user": {
        "type": "String",
        "description": "The user the runbook logs in as on this host (from the registry)",
        "allowedPattern": host_shell.USER_PATTERN,
    },
    "directory": {
        "type": "String",
        "description": "The app's directory under that user's home (from the registry)",
        "allowedPattern": host_shell.DIRECTORY_PATTERN,
        "default": "",
    },
}
#: `.env`'s PORT: where the app answers (the agent's environment has no PORT; the
#: backend's default when `.env` has none).
ENV_PORT = "PORT=$(dotenv PORT); PORT=${PORT:-3000}"


def _document(
    description: str, parameters: dict[str, Any], lines: list[str], timeout: int
) -> dict[str, Any]:
    return {
        "schemaVersion": "2.2",
        "description": description,
        "parameters": {**_WHERE, **parameters},
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "run",
                "inputs": {
                    "runCommand": host_shell.as_user("{{ user }}", "{{ directory }}", lines),
                    "timeoutSeconds": str(timeout),
                },
            }
        ],
    }


def observe() -> dict[str, Any]:
    return _document(
        "selfheal: read one Aupus ingestion instance (read only): .env, pm2, /health/mqtt, "
        "P2002 lines",
        {},
        [
            "exec 9>>.selfheal.lock",
            f"flock -s -w {LOCK_SECONDS} 9 || true  # a mode switch under way finishes first",
            ENV_PORT,
            'echo "env_mode=$(dotenv MQTT_MODE)"',
            'echo "instance_id=$(dotenv INSTANCE_ID)"',
            'echo "pid=$(pm2 pid aupus-api 2>/dev/null 9>&- | tail -n 1)"',
            'echo "mqtt=$(curl -sS -m 3 "http://localhost:$PORT/health/mqtt" 2>/dev/null)"',
            f'echo "p2002=$(cat {PM2_LOGS}/aupus-api-*.log 2>/dev/null | grep -c P2002)"',
        ],
        OBSERVE_SECONDS,
    )


def set_mode() -> dict[str, Any]:
    return _document(
        "selfheal: put one Aupus ingestion instance in MQTT_MODE production|development "
        "(.env + pm2 restart aupus-api), waited for until the app answers in it",
        {
            "mode": {
                "type": "String",
                "description": "MQTT_MODE to set in .env",
                "allowedValues": list(MODES),
            }
        },
        [
            "set -e",
            "exec 9>>.selfheal.lock",
            f"flock -w {LOCK_SECONDS} 9  # one switch at a time on this host (concurrent runs)",
            "grep -q -E '^MQTT_MODE=' .env",
            ENV_PORT,
            "sed -i 's/^MQTT_MODE=.*/MQTT_MODE={{ mode }}/' .env",
            "pm2 restart aupus-api 9>&- > /dev/null",
            f"end=$(( $(date +%s) + {READY_SECONDS} ))",
            'while [ "$(date +%s)" -lt "$end" ]; do',
            '  got=$(curl -sS -m 2 "http://localhost:$PORT/health/mqtt" 2>/dev/null || true)',
            # Read whatever the JSON's spacing and key order (Node writes none, Python some).
            "  flat=$(printf '%s' \"$got\" | tr -d ' \\n')",
            '  case "$flat" in *\'"status":"connected"\'*) case "$flat" in',
            '    *\'"mode":"{{ mode }}"\'*)',
            '      echo "aupus-api restarted in {{ mode }}"',
            '      echo "env_mode=$(dotenv MQTT_MODE)"',
            '      echo "mqtt=$flat"; exit 0 ;;',
            "  esac ;; esac",
            "  sleep 0.5",
            "done",
            f'echo "aupus-api not answering in {{{{ mode }}}} {READY_SECONDS} s after pm2 restart: '
            '$got" >&2',
            "exit 1",
        ],
        SET_MODE_SECONDS,
    )


def fence() -> dict[str, Any]:
    return _document(
        "selfheal: revoke (fence) or grant (unfence) INSERT on the readings for one Aupus "
        "instance's database role",
        {
            **_DATABASE,
            "action": {
                "type": "String",
                "description": "fence: REVOKE INSERT; unfence: GRANT INSERT",
                "allowedValues": ["fence", "unfence"],
            },
            "role": {
                "type": "String",
                "description": "The instance's database role (from the registry)",
                "allowedPattern": ROLE_PATTERN,
            },
            "instance": {
                "type": "String",
                "description": "The instance's INSTANCE_ID (from the registry): the "
                "application_name its sessions carry",
                "allowedPattern": INSTANCE_PATTERN,
            },
        },
        [
            "set -e",
            'case "{{ action }}" in',
            f"  fence) {PSQL} -c 'REVOKE INSERT ON {TABLE} FROM \"{{{{ role }}}}\"' ;;",
            f"  unfence) {PSQL} -c 'GRANT INSERT ON {TABLE} TO \"{{{{ role }}}}\"' ;;",
            "esac",
            f"{PSQL} -c \"SELECT 'insert', has_table_privilege('{{{{ role }}}}', '{TABLE}', "
            f"'INSERT')\"",
            # The roles the instance's sessions really log in as (application_name is its
            # INSTANCE_ID), and whether each may INSERT now: the fence must hold for them.
            f"{PSQL} -c \"SELECT 'session', usename, has_table_privilege(usename, '{TABLE}', "
            "'INSERT') FROM pg_stat_activity WHERE datname = current_database() AND "
            "application_name = '{{ instance }}' AND usename IS NOT NULL GROUP BY usename "
            'ORDER BY 2"',
            f"{PSQL} -c \"SELECT 'now', {_UTC.format('now()')}\"",
        ],
        PSQL_SECONDS,
    )


def writers() -> dict[str, Any]:
    return _document(
        "selfheal: which Aupus instances wrote readings since a time (read only)",
        {
            **_DATABASE,
            "since": {
                "type": "String",
                "description": "The database's time (as this document prints it) to count "
                "from, or recent (the last 5 minutes)",
                "allowedPattern": SINCE_PATTERN,
            },
        },
        [
            "set -e",
            f"{PSQL} -c \"SELECT 'now', {_UTC.format('now()')}\"",
            f"{PSQL} -c \"SELECT 'wrote', instance_id, count(*), "
            f"{_UTC.format('min(created_at)')}, {_UTC.format('max(created_at)')} FROM {TABLE} "
            "WHERE created_at > COALESCE(NULLIF('{{ since }}', 'recent')::timestamptz, "
            "now() - interval '5 minutes') GROUP BY instance_id ORDER BY 2\"",
            f"{PSQL} -c \"SELECT 'insert', rolname, has_table_privilege(rolname, '{TABLE}', "
            "'INSERT') FROM pg_roles WHERE rolname ~ '^aupus_' ORDER BY 2\"",
        ],
        PSQL_SECONDS,
    )


def timeout(content: dict[str, Any]) -> int:
    """A document's execution timeout: its steps' `timeoutSeconds`, summed."""
    return sum(int(step["inputs"]["timeoutSeconds"]) for step in content["mainSteps"])


def budget(document: str) -> int:
    """How long a caller waits for `document`'s outcome at most: SSM's delivery timeout,
    then the document's execution timeout."""
    return DELIVERY_SECONDS + timeout(documents()[document])


def documents() -> dict[str, dict[str, Any]]:
    """Every document by name: the CDK core stack and the local runtime create these."""
    return {OBSERVE: observe(), SET_MODE: set_mode(), FENCE: fence(), WRITERS: writers()}
