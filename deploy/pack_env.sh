#!/usr/bin/env bash
# Pack the project venv for spark-submit --archives (Spark's "Python Package Management"):
#   deploy/pack_env.sh [OUT]   (default dist/shoprank-env.tar.gz)
# then  spark-submit --archives OUT#environment --conf spark.pyspark.python=./environment/bin/python ...
# The archive holds the packages, not the interpreter (venv-pack's contract): every node
# needs Python 3.11 where this venv's base interpreter lives. shoprank itself travels as
# --py-files (make package), so its editable install is left out (venv-pack refuses
# editable installs): the venv is packed through a hard-linked copy without it, which
# costs no space. The format is tar.gz: Spark unpacks .tar with a Java unpacker that drops
# the executable bits and refuses the interpreter's symlink; .tar.gz goes through tar.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/common.sh
VENV="${SHOPRANK_VENV:-.venv}"
OUT="${1:-dist/shoprank-env.tar.gz}"
[[ -x "$VENV/bin/venv-pack" ]] || { echo "ERROR: $VENV/bin/venv-pack is missing: run make setup" >&2; exit 2; }
mkdir -p "$(dirname "$OUT")"
need_disk "$(dirname "$OUT")" 2000 "Packing $VENV (about 1.1 GB compressed)"
REAL="$(cd "$VENV" && pwd -P)"  # a symlinked venv: link its files, not the link
COPY="$(dirname "$REAL")/.shoprank-pack.$$"  # hard links need the venv's file system
trap 'rm -rf "$COPY"' EXIT
cp -al "$REAL" "$COPY"
[[ -d "$COPY" && ! -L "$COPY" ]] || { echo "ERROR: could not copy $REAL to $COPY" >&2; exit 1; }
SITE="$COPY/lib/python3.11/site-packages"
rm -rf "$SITE"/__editable__.shoprank-* "$SITE"/shoprank-*.dist-info
# Executors unpack the archive for every application (every stage task of the DAG): leave
# out what no executor reads, pyspark's jars (the cluster's Spark runs the JVM) and the
# C++ headers of TensorFlow and torch (read only when building extensions), a sixth of
# the unpacked size.
rm -rf "$SITE"/pyspark/jars "$SITE"/tensorflow/include "$SITE"/torch/include
rm -f "$OUT"
"$REAL/bin/venv-pack" --prefix "$COPY" --output "$OUT" --compress-level 1 --quiet
echo "$OUT ($(du -h "$OUT" | cut -f1))"
