# Shared by the set-up scripts (sourced, not run).

# need_disk DIR MB WHAT: stop with a clear error, before any download, when DIR's
# file system has less than MB megabytes free (a full disk otherwise surfaces as an
# OSError deep inside pip, or as a half-built venv).
need_disk() {
  local dir="$1" want_mb="$2" what="$3" free_kb
  free_kb="$(df -Pk "$dir" | awk 'NR==2 {print $4}')"
  if (( free_kb < want_mb * 1024 )); then
    echo "ERROR: $what needs about ${want_mb} MB free on the file system of $dir;" \
         "found $(( free_kb / 1024 )) MB. Free some space (or point TMPDIR and" \
         "PIP_CACHE_DIR elsewhere) and run again." >&2
    exit 28
  fi
}

# pip_run CMD...: run a pip command, hide its known-harmless notices, keep its exit
# status (a failed install stops here, naming the command, not at a later import).
pip_run() {
  local out rc=0
  out="$("$@" 2>&1)" || rc=$?
  grep -v -E "is ignored|does not provide the extra" <<<"$out" || true
  if (( rc != 0 )); then
    echo "ERROR: '$*' failed with exit code $rc (its output is above)." >&2
    exit "$rc"
  fi
}
