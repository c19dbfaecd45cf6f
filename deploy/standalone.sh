#!/usr/bin/env bash
# A Spark standalone cluster on this machine, from the pyspark wheel (which ships
# spark-class but not sbin/start-master.sh): one master and one worker.
#   deploy/standalone.sh start   -> prints the master URL (spark://HOST:PORT)
#   deploy/standalone.sh stop    -> ends both and drops the environments executors unpacked
# Settings (environment): SPARK_STANDALONE_DIR (logs, pids, the worker's directory;
# default ./spark-standalone), SPARK_MASTER_HOST (127.0.0.1), SPARK_MASTER_PORT (7077),
# SPARK_MASTER_WEBUI_PORT (8080), SPARK_WORKER_WEBUI_PORT (8081), SPARK_WORKER_CORES (2),
# SPARK_WORKER_MEMORY (8g), SPARK_WORKER_CLEANUP_TTL_S (86400) and
# SPARK_WORKER_CLEANUP_INTERVAL_S (1800): the worker deletes a finished application's
# directory (its unpacked environment and its logs) once nothing in it changed for the
# TTL, checking every interval. A night of the Airflow DAG, one application per stage,
# leaves nine unpacked environments (about 30 GB) on the worker: Spark's 7-day default
# would hold a week of them.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SHOPRANK_VENV:-.venv}"
DIR="$(mkdir -p "${SPARK_STANDALONE_DIR:-spark-standalone}" && cd "${SPARK_STANDALONE_DIR:-spark-standalone}" && pwd)"
HOST="${SPARK_MASTER_HOST:-127.0.0.1}"
PORT="${SPARK_MASTER_PORT:-7077}"
URL="spark://$HOST:$PORT"
CLASS="$VENV/bin/spark-class"
export SPARK_LOCAL_IP="$HOST"
# spark-class finds its jars through the python3 on the PATH unless told: the venv's pyspark.
SPARK_HOME="${SPARK_HOME:-$("$VENV/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"
export SPARK_HOME

wait_for() {  # wait_for PID FILE PATTERN WHAT: the daemon's log line that says it is up
  for _ in $(seq 120); do
    grep -q "$3" "$2" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || break
    sleep 1
  done
  echo "ERROR: the $4 did not come up; its log, $2, ends:" >&2
  tail -n 20 "$2" >&2
  exit 1
}

case "${1:-}" in
  start)
    [[ -x "$CLASS" ]] || { echo "ERROR: $CLASS is missing: run make setup" >&2; exit 2; }
    "$CLASS" org.apache.spark.deploy.master.Master --host "$HOST" --port "$PORT" \
      --webui-port "${SPARK_MASTER_WEBUI_PORT:-8080}" >"$DIR/master.log" 2>&1 &
    echo $! >"$DIR/master.pid"
    wait_for "$(cat "$DIR/master.pid")" "$DIR/master.log" "I have been elected leader" "Spark master at $URL"
    CLEANUP="-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.appDataTtl=${SPARK_WORKER_CLEANUP_TTL_S:-86400}"
    CLEANUP+=" -Dspark.worker.cleanup.interval=${SPARK_WORKER_CLEANUP_INTERVAL_S:-1800}"
    SPARK_WORKER_OPTS="${SPARK_WORKER_OPTS:-} $CLEANUP" "$CLASS" org.apache.spark.deploy.worker.Worker "$URL" --cores "${SPARK_WORKER_CORES:-2}" \
      --memory "${SPARK_WORKER_MEMORY:-8g}" --work-dir "$DIR/work" \
      --webui-port "${SPARK_WORKER_WEBUI_PORT:-8081}" >"$DIR/worker.log" 2>&1 &
    echo $! >"$DIR/worker.pid"
    wait_for "$(cat "$DIR/worker.pid")" "$DIR/worker.log" "Successfully registered with master" "Spark worker"
    echo "$URL"
    ;;
  stop)
    for d in worker master; do
      if [[ -f "$DIR/$d.pid" ]]; then
        kill "$(cat "$DIR/$d.pid")" 2>/dev/null || true
        rm -f "$DIR/$d.pid"
      fi
    done
    # Each application's executors unpacked the shipped environment (3.2 GB) into their
    # directories: drop those copies, keep the executors' logs.
    if [[ -d "$DIR/work" ]]; then
      find "$DIR/work" -mindepth 3 -maxdepth 3 -name environment -exec rm -rf {} +
    fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
