# The two commands the README promises: `make demo` and `make test`.
# Both create the virtualenv when missing and install exactly the pinned set.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.selfheal-installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test lint bench broker hosts setup serve policies

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==26.3
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) broker hosts

# Debian's mosquitto: the real MQTT broker the edge tests and demo start on a free port;
# mosquitto-clients: the Aupus hosts' broker check (an MQTT connect, runbook 004 passo 4).
broker:
	@{ command -v mosquitto && command -v mosquitto_sub; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null; }

# What the local managed hosts run for real (issue 21): Debian's PostgreSQL, Redis and curl,
# and npm's pm2 (the process manager the runbooks' `pm2`/`docker compose` commands reach);
# Debian's influxdb: the data platform's time-series store the freeze's integrity check
# counts records in (runbook 001; Timestream for InfluxDB in AWS).
PM2_VERSION := 6.0.14
hosts:
	@{ command -v redis-server && command -v pg_isready && command -v curl && command -v influxd \
	   && test -x "$$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -1)"; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    postgresql redis-server curl influxdb >/dev/null; }
	@# The installed version read from its package.json: `pm2 --version` spawns a daemon.
	@[ "$$(node -p "require('$$(npm root -g 2>/dev/null)/pm2/package.json').version" 2>/dev/null)" \
	   = "$(PM2_VERSION)" ] || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO npm install -g --no-fund --no-audit pm2@$(PM2_VERSION) >/dev/null; }

demo: setup
	$(VENV)/bin/selfheal demo

# The local pipeline behind a moto server on 127.0.0.1 for the AWS CLI (README: selfheal serve).
# ARGS passes options: make serve ARGS="--port 4566 --mqtt"
serve: setup
	$(VENV)/bin/selfheal serve $(ARGS)

test: setup
	$(PY) -m pytest -n 2 --durations=15

# ruff (lint + formatting) over the tree; mypy over what [tool.mypy] lists in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# JSON on stdout: cold init per remediator, the edge ladder's virtual-time replay, state
# transitions per workflow path (benchmarks/). The ladder needs mosquitto, hence setup.
bench: setup
	$(PY) -m benchmarks.run


# What each function's and state machine's role may do, from `cdk synth`: the local runtime
# enforces it (local/iam_enforcement.py); tests/cdk fails when it is stale.
policies: $(STAMP)
	$(PY) -m selfheal_cdk.role_policies local/role_policies.json
