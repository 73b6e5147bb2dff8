# The two commands of the README: `make demo` and `make test`. Both run `make setup` first.
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv/bin
ENV := . $(ROOT)/.tools/env.sh &&
EMULATOR_STATE := $(ROOT)/.state/emulator

.PHONY: setup test lint typecheck pytest demo demo-destroy bench emulator-start emulator-stop docs

setup:
	@bash tools/setup.sh

lint: setup
	@echo "==> ruff"
	@$(VENV)/ruff check .

typecheck: setup
	@echo "==> mypy"
	@$(VENV)/mypy

pytest: setup
	@echo "==> pytest"
	@$(ENV) $(VENV)/pytest -q

test: setup lint typecheck pytest

emulator-start: setup
	@$(VENV)/python -m emulator start --state-dir $(EMULATOR_STATE) --orgs orgA,orgB

emulator-stop:
	@$(VENV)/python -m emulator stop --state-dir $(EMULATOR_STATE)

demo: setup
	@$(ENV) $(VENV)/python -m tools.demo up

demo-destroy: setup
	@$(ENV) $(VENV)/python -m tools.demo destroy

bench: setup
	@$(ENV) $(VENV)/python -m bench.run

docs: setup
	@$(VENV)/python -m providers.docs
