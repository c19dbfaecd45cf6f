#!/usr/bin/env bash
# Create or reuse the project venv and install the verified stack.
# Horovod has no wheels: it is compiled here, after TensorFlow, without build
# isolation so that its build sees TensorFlow (see README "Stack").
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/common.sh
VENV="${SHOPRANK_VENV:-.venv}"
PY="${PYTHON:-python3.11}"

command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" - <<'PYEOF' || { echo "ERROR: Python 3.11 is required (found $($PY --version 2>&1)). Install python3.11 or set PYTHON=/path/to/python3.11." >&2; exit 2; }
import sys
sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)
PYEOF
if ! java -version 2>&1 | grep -qE 'version "(17|21)'; then
  echo "ERROR: Java 17 is required by Spark 4 (found: $(java -version 2>&1 | head -1 || echo none)). Install openjdk-17-jre-headless and set JAVA_HOME." >&2
  exit 2
fi

STAMP="$VENV/.shoprank-installed"
HASH="$(cat pyproject.toml deploy/setup_venv.sh | sha256sum | cut -c1-16)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]]; then
  exit 0
fi

# A new venv ends at 3.8 GB; the install peaks near 6 GB (Horovod's build files).
if [[ -x "$VENV/bin/python" ]]; then need_disk . 1000 "Updating $VENV"
else need_disk . 5500 "Installing the stack into $VENV"; fi
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
pip_run $PIP install --quiet --upgrade "pip>=24" "setuptools>=68" wheel
# Stack first (TF must be importable before Horovod compiles), then the project.
pip_run $PIP install --quiet -e ".[dev]"
"$VENV/bin/python" -c "import tensorflow, pyspark, deltalake" # fail here if the install did
if ! "$VENV/bin/python" -c "import horovod.tensorflow" >/dev/null 2>&1; then
  echo "Compiling Horovod 0.28.1 against TensorFlow (2-3 minutes)..."
  HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
  HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 MAKEFLAGS=-j2 \
    pip_run $PIP install --quiet --no-cache-dir --no-build-isolation "horovod==0.28.1"
fi
"$VENV/bin/python" -c "import horovod.tensorflow, tensorflow, pyspark, deltalake; print('stack ok: tf', tensorflow.__version__, 'spark', pyspark.__version__, 'deltalake', deltalake.__version__)"
echo "$HASH" > "$STAMP"
