# The two commands of the README: `make demo` and `make test`. Both run `make setup` first, and so
# does `make test-fast`, the tests left when those marked `slow` are taken out (tests/conftest.py).
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv/bin
ENV := . $(ROOT)/.tools/env.sh &&
EMULATOR_STATE := $(ROOT)/.state/emulator

.PHONY: setup setup-run test test-fast pytest-fast lint typecheck pytest demo demo-destroy bench contract emulator-start emulator-stop docs

setup:
	@bash tools/setup.sh

# What running orglink needs, without the servers only the tests use (the S3 gateway build).
setup-run:
	@ORGLINK_TEST_TOOLS=0 bash tools/setup.sh

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

pytest-fast: setup
	@echo "==> pytest -m 'not slow'"
	@$(ENV) $(VENV)/pytest -q -m "not slow"

test-fast: setup lint typecheck pytest-fast

emulator-start: setup
	@$(VENV)/python -m emulator start --state-dir $(EMULATOR_STATE) --orgs orgA,orgB

emulator-stop:
	@$(VENV)/python -m emulator stop --state-dir $(EMULATOR_STATE)

demo: setup-run
	@$(ENV) $(VENV)/python -m tools.demo up

demo-destroy: setup-run
	@$(ENV) $(VENV)/python -m tools.demo destroy

# make bench [BENCH_ARGS="--worlds latency --latency-ks 1,10,50 --latency <profile> --runs 1"]
bench: setup
	@$(ENV) $(VENV)/python -m bench.run $(BENCH_ARGS)

# make contract ORG_A=<sf alias or username> ORG_B=<...> | STACK_FILE=<file> | EMULATOR=1
#   [READ_ONLY=1] [OUT=<dir>] [ADOPT_CONNECTED_APP=<API name>]: proves orglink against two orgs,
#   reports in OUT (default: here). ADOPT_CONNECTED_APP runs the connected-app part on that existing
#   app of Org B (its consumer secret in the environment variable ADOPT_CONNECTED_APP_SECRET).
CONTRACT_ORGS = $(if $(EMULATOR),--emulator,$(if $(STACK_FILE),--stack-file "$(abspath $(STACK_FILE))") \
	$(if $(ORG_A),--org-a "$(ORG_A)") $(if $(ORG_B),--org-b "$(ORG_B)"))
contract: setup-run
	@$(ENV) $(VENV)/python -m tools.contract $(CONTRACT_ORGS) $(if $(READ_ONLY),--read-only) \
		$(if $(ADOPT_CONNECTED_APP),--adopt-connected-app "$(ADOPT_CONNECTED_APP)") \
		--out "$(abspath $(or $(OUT),$(CURDIR)))"

docs: setup
	@$(VENV)/python -m providers.docs
