# jaffle ELT: `make demo` to see it run, `make test` to prove it. `make help` lists targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# Warehouse for ingest/build: duckdb (default), postgres, lake (DuckDB, facts as Parquet) or
# spark. dbt gets it as DBT_TARGET, which it reads as if it were --target; that flag is part
# of what its partial parsing compares, so the default is not named: `make build` and a plain
# `dbt build` then share one parse instead of each throwing the other's away.
TARGET ?= duckdb
ifeq ($(TARGET),duckdb)
unexport DBT_TARGET
else
export DBT_TARGET := $(TARGET)
endif
# dbt's artifacts and its partial parse, per target: the default's in target/ (where a plain
# `dbt build` keeps them), the others' in target/<TARGET>/, so switching targets and back does
# not make dbt parse the whole project again. (ingestion/warehouse.py: dbt_target_path)
export DBT_TARGET_PATH := target$(if $(filter-out duckdb,$(TARGET)),/$(TARGET))
# Lake mode's Parquet files; DuckDB creates a model's directory, not the root above it.
export LAKE_ROOT ?= warehouse/lake
# The Spark target's raw zone (dlt writes it, the cluster reads it): an absolute path, as the
# cluster's processes run elsewhere; or any URL dlt and the cluster both read.
export LAKE_BUCKET_URL ?= $(CURDIR)/warehouse/raw-zone
DAGSTER_PORT ?= 3000

.PHONY: help setup demo upstream ingest build spark-up spark-down roles orchestrate test test-dates chaos lint format bench lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(VENV)/.installed  ## create .venv and install the locked dependencies

$(VENV)/.installed: requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@# The system's certificate store, as pip uses: a registry behind a proxy with its own CA
	@# then works without SSL_CERT_FILE in the environment. Bytecode compiled now, as pip
	@# does, not by every command's first run (uv skips it by default).
	$(BIN)/uv pip install --quiet --system-certs --compile-bytecode --python $(BIN)/python \
		-r requirements.lock
	@touch $@

demo: setup  ## start the upstream, ingest, dbt build on DuckDB, print a summary
	$(BIN)/python scripts/demo.py

upstream: setup  ## serve the simulated upstream on 127.0.0.1:8765 (needs UPSTREAM_API_KEY)
	$(BIN)/python -m upstream serve --port 8765

ingest: setup  ## extract incrementally from the upstream into TARGET's raw dataset
	$(BIN)/python -m ingestion run --target $(TARGET)

# Unit tests check the models' SQL on fixed inputs: they pass or fail with the code, not the
# data, so a production build skips them; `dbt build`, `dbt test` and `make test` run them.
build: setup  ## dbt build (models and data tests; not unit tests) on TARGET, then the marts published for readers
	$(if $(filter lake,$(TARGET)),mkdir -p $(LAKE_ROOT))
	$(BIN)/dbt build --exclude-resource-type unit_test
	$(if $(filter lake,$(TARGET)),,$(BIN)/python -m ingestion.publish)

spark-up: setup  ## start a Spark cluster on 127.0.0.1 (master, 2 workers, Thrift server; Java 17)
	$(BIN)/python -m cluster up

spark-down:  ## stop the Spark cluster started by spark-up (by the PIDs in .spark/pids)
	$(BIN)/python -m cluster down

roles: setup  ## PostgreSQL: loader, transformer and reader roles with least privilege (idempotent)
	$(BIN)/python -m ingestion.postgres_roles

orchestrate: setup  ## Dagster UI on 127.0.0.1:$(DAGSTER_PORT): assets, schedules (SCHEDULES=on runs them)
	mkdir -p .dagster && cp orchestration/dagster.yaml .dagster/dagster.yaml
	@echo "orchestrate: parsing the dbt project, then starting Dagster (about a minute, until it"
	@echo "orchestrate: prints 'Serving dagster-webserver on http://127.0.0.1:$(DAGSTER_PORT)')"
	$(BIN)/dbt parse --quiet
	@echo "orchestrate: schedules $(if $(filter on,$(SCHEDULES)),running,stopped (make orchestrate SCHEDULES=on runs them))"
	JAFFLE_SCHEDULES=$(or $(SCHEDULES),off) DAGSTER_HOME=$(CURDIR)/.dagster \
		PYTHONWARNINGS='ignore:Function `dev_command` is superseded' \
		exec $(BIN)/dagster dev -m orchestration.definitions --host 127.0.0.1 --port $(DAGSTER_PORT)

lint: setup  ## ruff and sqlfluff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint models tests/dbt

format: setup  ## apply ruff's formatting and sqlfluff's fixes
	$(BIN)/ruff format .
	$(BIN)/sqlfluff fix models tests/dbt

test: lint  ## the whole suite: lint, then pytest on two workers (dbt on DuckDB, PostgreSQL, Spark)
	$(BIN)/pytest -n 2 --durations=12

test-dates: setup  ## the date-sensitive tests again under shifted clocks (2 dates; needs gcc)
	$(BIN)/python tests/clock/run_dates.py

chaos: setup  ## kill -9 during ingest and dbt build, DuckDB and PostgreSQL, checked key by key (QUICK=1: 2 trials each)
	$(BIN)/python tests/chaos/run_trials.py $(if $(QUICK),--quick)

bench: setup  ## benchmarks side by side (QUICK=1: smoke run; SCALE=orders; PEERS=1: + Singer; LARGE=1: + 10M/100M)
	$(BIN)/python -m bench $(if $(QUICK),--quick) $(if $(SCALE),--scale $(SCALE)) $(if $(PEERS),--peers) \
		$(if $(LARGE),--large)

lock:  ## re-resolve requirements.lock from pyproject.toml
	$(BIN)/uv pip compile --quiet --system-certs pyproject.toml -o requirements.lock --python-version 3.11

clean:  ## remove the virtualenv, the local warehouse, pipeline state and dbt output
	rm -rf $(VENV) warehouse .pipelines target logs .dagster .spark
