# stackdrill: `make drill` (the main job) and `make test` (the project's tests) set themselves up.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
TOPOLOGY ?= default
PYTEST_ARGS ?=
DRILL_ARGS ?=

.PHONY: setup setup-test drill test lint unit integration doctor clean

## setup: Docker engine, Python venv, Pulumi CLI, Toxiproxy, base and service images (idempotent)
setup:
	@scripts/setup.sh docker
	@scripts/setup.sh python
	@scripts/setup.sh pulumi
	@scripts/setup.sh toxiproxy
	@scripts/setup.sh base-image
	@scripts/setup.sh service-image

## setup-test: setup, plus headless Chromium for the report's browser test
setup-test: setup
	@scripts/setup.sh browser

## drill: up, the full failover suite with traffic, report (reports/), down
drill: setup
	@$(BIN)/stackdrill drill --topology $(TOPOLOGY) $(DRILL_ARGS)

## test: lint, type-check, unit + Pulumi mock + integration tests on real stacks, leftovers check
test: setup-test lint
	@echo "[test] pytest tests (unit, Pulumi mocks, integration on real stacks)"
	@$(BIN)/pytest tests -q -ra $(PYTEST_ARGS)
	@scripts/check-leftovers.sh

lint: setup
	@echo "[test] ruff check, ruff format --check, mypy"
	@$(BIN)/ruff check stackdrill infra failover_tests services tests bench
	@$(BIN)/ruff format --check stackdrill infra failover_tests services tests bench
	@$(BIN)/mypy stackdrill infra failover_tests

unit: setup
	@$(BIN)/pytest tests/unit tests/infra -q $(PYTEST_ARGS)

integration: setup-test
	@$(BIN)/pytest tests/integration -q -ra $(PYTEST_ARGS)

doctor: setup
	@$(BIN)/stackdrill doctor

## clean: remove every container, network and image the kit made, and its state (keeps .venv and caches)
clean:
	@scripts/clean.sh
