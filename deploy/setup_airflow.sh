#!/usr/bin/env bash
# A separate venv for Airflow: its dependency pins must not move the ML stack's.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SHOPRANK_AIRFLOW_VENV:-.venv-airflow}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
STAMP="$VENV/.installed"
WANT="apache-airflow==2.10.5"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then exit 0; fi
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade "pip>=24" 2>&1 | grep -v "is ignored" || true
"$VENV/bin/python" -m pip install --quiet "$WANT" 2>&1 | grep -v -E "is ignored|does not provide the extra" || true
"$VENV/bin/airflow" version >/dev/null
echo "$WANT" > "$STAMP"
