# The two commands that matter: `make run` and `make test`. Everything else is a step they call.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Rasa 3.6 needs Python 3.8-3.10; the machine default is 3.11, pyenv provides 3.10.
PY310 := $(shell for p in "$$PYTHON310" "$$(pyenv prefix 3.10 2>/dev/null)/bin/python3.10" "$$(command -v python3.10)"; do \
	[ -n "$$p" ] && [ -x "$$p" ] && "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && echo "$$p" && break; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1
# TensorFlow and friends are chatty; keep the terminal readable.
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONWARNINGS := ignore
# Hermetic: Rasa must not phone home (telemetry, error reporting).
export RASA_TELEMETRY_ENABLED := false

.PHONY: help install generate train migrate seed run cluster soak faults test test-fast eval bench lint typecheck lock clean browser haproxy

help:
	@echo "make run    install, train if needed, start rasa + actions + gateway (embedded default)"
	@echo "make test   install if needed, train if needed, run every suite"
	@echo "make eval   answer-quality evaluation on held-out questions (prints and writes a report)"
	@echo "make cluster  HAProxy, 2 gateways, 2 Rasa servers, actions on PostgreSQL + Redis (deploy/)"
	@echo "make bench  latency / throughput benchmark: full path vs raw Rasa REST"
	@echo "make soak   300 widget connections through HAProxy, faults on a schedule (a few minutes)"
	@echo "make lint   ruff"
	@echo "make typecheck   mypy on bot/ and actions/ (config in pyproject.toml)"

$(STAMP): requirements.lock
	@test -n "$(PY310)" || { echo "Python 3.10 not found (tried pyenv and python3.10); set PYTHON310=/path/to/python3.10"; exit 1; }
	@test -x $(PY) || $(PY310) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==24.3.1"
	$(PY) -m pip install --quiet -r requirements.lock
	@touch $(STAMP)

install: $(STAMP)

# Chromium for the browser tests comes from Debian (with a Chinese font for the screenshots); Playwright drives it.
# axe-core (accessibility checks) comes from the npm registry, pinned in tests/browser/package-lock.json.
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi wenquanyi; } || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }
	@test -f tests/browser/node_modules/axe-core/axe.min.js || npm ci --prefix tests/browser --no-audit --no-fund --silent

# HAProxy for the cluster profile, its fault tests and the soak comes from Debian, like Chromium.
haproxy:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq haproxy >/dev/null; }

generate: install
	$(PY) -m bot generate

train: generate
	$(PY) -m bot train

migrate: install
	$(PY) -m bot migrate

# Demo data only when asked for: `make run` asks (the invented demo cases and a `demo` admin, skipped when cases
# exist); `DEMO=0 make run` does not. A production start (`python -m bot run`) never seeds.
DEMO ?= 1
seed: migrate
	@if [ "$(DEMO)" = "1" ]; then $(PY) -m bot seed-demo --demo; fi

run: train seed
	$(PY) -m bot run

# The cluster of deploy/etown.env.example (PostgreSQL and Redis on this machine; the databases are created).
cluster: train haproxy
	$(PY) -m bot run --cluster

soak: train haproxy
	$(PY) -m bot soak

# The cluster fault test alone (`make test` runs it too, after the other suites, so its figures print last).
faults: train haproxy
	$(PY) -m pytest -q -s -m faults

test: train browser haproxy
	$(PY) -m bot generate --check
	$(PY) -m ruff check bot actions tests
	$(PY) -m mypy
	$(PY) -m pytest -q -m "not faults"
	$(PY) -m pytest -q -s -m faults
	$(PY) -m bot rasa-checks
	$(PY) -m bot eval --check-floors

test-fast: install
	$(PY) -m pytest -q -m "not slow"

eval: train
	$(PY) -m bot eval

bench: train
	$(PY) -m bot bench

lint: install
	$(PY) -m ruff check bot actions tests

# Files and strictness come from [tool.mypy] in pyproject.toml.
typecheck: install
	$(PY) -m mypy

# Re-resolve exact pins from requirements.in (needs network; commit the result).
lock:
	@test -n "$(PY310)" || { echo "Python 3.10 not found"; exit 1; }
	rm -rf /tmp/etown-lock && $(PY310) -m venv /tmp/etown-lock
	/tmp/etown-lock/bin/pip install --quiet "pip==24.3.1" && /tmp/etown-lock/bin/pip install --quiet -r requirements.in
	/tmp/etown-lock/bin/pip freeze --exclude-editable | sort > requirements.lock

clean:
	rm -rf var models results .pytest_cache .ruff_cache
