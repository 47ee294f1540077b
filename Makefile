# stackdrill: `make drill` (the main job) and `make test` (the project's tests) set themselves up.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
TOPOLOGY ?= default
PYTEST_ARGS ?=

.PHONY: setup drill test lint unit integration clean doctor

setup:
	@scripts/setup.sh docker
	@scripts/setup.sh python
	@scripts/setup.sh pulumi
	@scripts/setup.sh toxiproxy
	@scripts/setup.sh base-image

doctor: setup
	@$(BIN)/stackdrill doctor

drill: setup
	@$(BIN)/stackdrill drill --topology $(TOPOLOGY)

lint: setup
	@echo "[test] ruff check, ruff format --check, mypy"
	@$(BIN)/ruff check infra failover_tests services tests bench
	@$(BIN)/ruff format --check infra failover_tests services tests bench
	@$(BIN)/mypy infra failover_tests

unit: setup
	@$(BIN)/pytest tests/unit tests/infra -q $(PYTEST_ARGS)

integration: setup
	@$(BIN)/pytest tests/integration -q $(PYTEST_ARGS)

test: setup lint
	@$(BIN)/pytest tests -q -ra $(PYTEST_ARGS)
	@echo "[test] leftovers check"; scripts/check-leftovers.sh

clean:
	@scripts/clean.sh
