# shoprank: every target installs what it needs first (deploy/setup_venv.sh is idempotent).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CONF ?= conf/local.toml
RUN_DATE ?= $(shell date -u -d yesterday +%F)
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup demo test test-fast lint bench-etl bench-delta demo-taobao demo-movielens clean package

setup:
	@bash deploy/setup_venv.sh

## make demo: generate sample data, run the whole nightly in local mode, print outputs and metrics
demo: setup
	$(PY) -m shoprank.cli generate --conf $(CONF) --run-date $(RUN_DATE)
	$(PY) -m shoprank.cli nightly --conf $(CONF) --run-date $(RUN_DATE) --run-version $$(date +%s)

## make test: the whole suite, slow tests included (Airflow gets its own venv)
test: setup
	@bash deploy/setup_airflow.sh
	$(PY) -m ruff check lib jobs tests bench deploy
	$(PY) -m pytest -q tests

test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests

lint: setup
	$(PY) -m ruff check lib jobs tests bench deploy

demo-taobao: setup
	$(PY) -m shoprank.cli nightly --conf conf/taobao.toml --run-date 2017-12-03 --run-version $$(date +%s)

demo-movielens: setup
	$(PY) -m shoprank.cli nightly --conf conf/movielens.toml --run-date 2018-09-24 --run-version $$(date +%s)

bench-etl: setup
	$(PY) bench/bench_etl.py

bench-delta: setup
	$(PY) bench/bench_delta.py

## make package: the library as a zip for spark-submit --py-files on a cluster
package:
	mkdir -p dist && rm -f dist/shoprank.zip && cd lib && zip -qr ../dist/shoprank.zip shoprank -x '*__pycache__*'
	@echo dist/shoprank.zip

clean:
	rm -rf warehouse work data/sample spark-warehouse
