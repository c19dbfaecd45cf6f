# shoprank: every target installs what it needs first (deploy/setup_venv.sh is idempotent).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
CONF ?= conf/local.toml
RUN_DATE ?= $(shell date -u -d yesterday +%F)
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup demo demo-standalone demo-airflow test test-fast lint bench-etl bench-delta bench-als bench-recall bench-examples bench-train demo-taobao demo-movielens eval-real eval-ml100k clean package

setup:
	@bash deploy/setup_venv.sh

## make demo: generate sample data, run the whole nightly in local mode, then replay two
## earlier nights and score their published lists against what users did next (the headline)
demo: setup
	$(PY) -m shoprank.cli generate --conf $(CONF) --run-date $(RUN_DATE)
	$(PY) -m shoprank.cli nightly --conf $(CONF) --run-date $(RUN_DATE) --run-version $$(date +%s)
	$(PY) -m shoprank.cli backtest --conf $(CONF) --run-date $$(date -u -d "$(RUN_DATE) - 2 days" +%F) \
	  --horizon-days 2 --nights 2 --step-days 1 --run-version $$(date +%s)

## make demo-standalone: the same night on a Spark standalone cluster started on this
## machine (deploy/standalone.sh), submitted with spark-submit: the library as --py-files,
## the Python environment as a venv-pack archive in --archives (deploy/pack_env.sh)
demo-standalone: setup package
	bash deploy/pack_env.sh dist/shoprank-env.tar.gz
	$(PY) -m shoprank.cli generate --conf $(CONF) --run-date $(RUN_DATE)
	URL=$$(bash deploy/standalone.sh start) && trap 'bash deploy/standalone.sh stop' EXIT && \
	  PYSPARK_PYTHON=./environment/bin/python $(VENV)/bin/spark-submit --master $$URL \
	  --py-files dist/shoprank.zip --archives dist/shoprank-env.tar.gz#environment \
	  --conf spark.executor.memory=4g --conf spark.executorEnv.TF_CPP_MIN_LOG_LEVEL=2 \
	  jobs/nightly.py --conf $(CONF) --run-date $(RUN_DATE) --run-version $$(date +%s) --set spark.master=

## make demo-airflow: the nightly Airflow 3 DAG (deploy/airflow/shoprank_nightly.py) run once
## with `airflow dags test` for RUN_DATE (fired at 02:30 the day after), every stage submitted
## to a standalone cluster on this machine with the packed environment; Airflow's home is
## airflow-home/
demo-airflow: setup package
	@bash deploy/setup_airflow.sh
	bash deploy/pack_env.sh dist/shoprank-env.tar.gz
	$(PY) -m shoprank.cli generate --conf $(CONF) --run-date $(RUN_DATE)
	export AIRFLOW_HOME=$(abspath airflow-home) AIRFLOW__CORE__LOAD_EXAMPLES=False \
	  AIRFLOW__CORE__DAGS_FOLDER=$(abspath deploy/airflow) PATH=$(abspath $(VENV))/bin:$$PATH \
	  SHOPRANK_CONF=$(CONF) SHOPRANK_PY_FILES=dist/shoprank.zip \
	  SHOPRANK_ARCHIVES=$(abspath dist/shoprank-env.tar.gz)#environment \
	  SHOPRANK_SPARK_CONF='{"spark.pyspark.python": "./environment/bin/python", "spark.executor.memory": "4g"}' \
	  SHOPRANK_ARGS="--set spark.master=" SHOPRANK_RETRIES=0 && \
	URL=$$(bash deploy/standalone.sh start) && trap 'bash deploy/standalone.sh stop' EXIT && \
	export AIRFLOW_CONN_SHOPRANK_SPARK="{\"conn_type\": \"spark\", \"host\": \"$$URL\"}" && \
	.venv-airflow/bin/airflow db migrate >/dev/null && .venv-airflow/bin/airflow dags reserialize >/dev/null && \
	.venv-airflow/bin/airflow dags test shoprank_nightly "$$(date -u -d '$(RUN_DATE) + 1 day' +%F)T02:30:00+00:00"

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

## make eval-real: the backtest on both datasets in ../shared/data (see README "Quality");
## its last lines: `backtest <dataset> ndcg_over_best_baseline=<x>`, one per dataset
EVAL_OUT ?= eval-out
eval-real: setup
	@mkdir -p $(EVAL_OUT)
	$(PY) -m shoprank.cli backtest --conf conf/movielens.toml --run-date 2018-08-25 --horizon-days 30 \
	  --nights 12 --step-days 30 --run-version $$(date +%s) 2>&1 | tee $(EVAL_OUT)/movielens.log
	$(PY) -m shoprank.cli backtest --conf conf/taobao.toml --run-date 2017-12-02 --horizon-days 1 \
	  --nights 3 --step-days 1 --run-version $$(date +%s) 2>&1 | tee $(EVAL_OUT)/taobao.log
	@grep -h "^backtest .* ndcg_over_best_baseline=" $(EVAL_OUT)/movielens.log $(EVAL_OUT)/taobao.log

## make eval-ml100k: the same backtest on MovieLens 100k, fetched from PyPI (RecBole's wheel),
## with conf/ml100k.toml's defaults: data no setting was tuned on. Weekly nights, a week ahead.
eval-ml100k: setup
	@mkdir -p $(EVAL_OUT)
	$(PY) bench/fetch_ml100k.py $(EVAL_OUT)/data/ml-100k
	$(PY) -m shoprank.cli backtest --conf conf/ml100k.toml --run-date 1998-04-15 --horizon-days 7 \
	  --nights 6 --step-days 7 --run-version $$(date +%s) \
	  --set input.actions_path=$(EVAL_OUT)/data/ml-100k/ml-100k.inter \
	  --set input.items_path=$(EVAL_OUT)/data/ml-100k/ml-100k.item 2>&1 | tee $(EVAL_OUT)/ml100k.log
	@grep -h "^backtest .* ndcg_over_best_baseline=" $(EVAL_OUT)/ml100k.log

bench-etl: setup
	$(PY) bench/bench_etl.py

bench-delta: setup
	$(PY) bench/bench_delta.py

bench-als: setup
	$(PY) bench/bench_als.py

## make bench-recall: a night's candidates on the generated shop, the recall sources one
## at a time against `candidates.concurrent_sources` at once (and a label window's 20 users)
bench-recall: setup
	$(PY) -m shoprank.cli generate --conf $(CONF) --run-date $(RUN_DATE)
	$(PY) bench/bench_recall.py --conf $(CONF) --run-date $(RUN_DATE)
	$(PY) bench/bench_recall.py --conf $(CONF) --run-date $(RUN_DATE) --users 20

## make bench-examples: a night's examples stage on the generated shop, timed, and digests
## of the lists it wrote (equal digests: the same lists and features)
bench-examples: setup
	$(PY) -m shoprank.cli generate --conf $(CONF) --run-date $(RUN_DATE)
	$(PY) bench/bench_examples.py --conf $(CONF) --run-date $(RUN_DATE)

## make bench-train: a night's train stage on the generated shop with 1 and 2 Horovod ranks,
## the training steps' throughput (lists/s) of each
bench-train: setup
	$(PY) -m shoprank.cli generate --conf $(CONF) --run-date $(RUN_DATE)
	$(PY) bench/bench_train.py --conf $(CONF) --run-date $(RUN_DATE)

## make package: the library as a zip for spark-submit --py-files on a cluster
package:
	mkdir -p dist && rm -f dist/shoprank.zip && cd lib && zip -qr ../dist/shoprank.zip shoprank -x '*__pycache__*'
	@echo dist/shoprank.zip

clean:
	rm -rf warehouse artifacts data/sample spark-warehouse warehouse-* artifacts-* eval-out spark-standalone airflow-home
