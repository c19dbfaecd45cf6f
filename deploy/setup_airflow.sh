#!/usr/bin/env bash
# A separate venv for Airflow 3 and its Spark provider (SparkSubmitOperator): their
# dependency pins must not move the ML stack's. A venv of another version is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/common.sh
VENV="${SHOPRANK_AIRFLOW_VENV:-.venv-airflow}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
STAMP="$VENV/.installed"
WANT="apache-airflow==3.3.2 apache-airflow-providers-apache-spark==6.3.4"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then exit 0; fi
[[ -f "$VENV/pyvenv.cfg" ]] && rm -rf "$VENV"
need_disk . 800 "Installing Airflow into $VENV (0.7 GB)"
"$PY" -m venv "$VENV"
pip_run "$VENV/bin/python" -m pip install --quiet --upgrade "pip>=24"
# shellcheck disable=SC2086  # WANT is a list of requirements
pip_run "$VENV/bin/python" -m pip install --quiet $WANT
"$VENV/bin/airflow" version >/dev/null
"$VENV/bin/python" -c "import airflow.providers.apache.spark.operators.spark_submit"
echo "$WANT" > "$STAMP"
