"""The set-up scripts' guards (deploy/common.sh): a disk too full to install the stack, or
a failed pip command, stops the set-up with a clear error and a non-zero exit."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    body = f"set -euo pipefail; source {ROOT / 'deploy' / 'common.sh'}; {script}; echo after"
    return subprocess.run(["bash", "-c", body], cwd=cwd, capture_output=True, text=True)


def test_need_disk_stops_when_space_is_short(tmp_path):
    short = _bash('need_disk . 1000000000 "Installing the stack"', tmp_path)
    assert short.returncode == 28
    assert "Installing the stack needs about 1000000000 MB free" in short.stderr
    assert "after" not in short.stdout
    enough = _bash('need_disk . 0 "Installing the stack"', tmp_path)
    assert (enough.returncode, enough.stdout.strip()) == (0, "after")


def test_pip_run_keeps_the_exit_status_and_hides_known_notices(tmp_path):
    failed = _bash("pip_run bash -c 'echo resolving; echo \"x is ignored\"; exit 3'", tmp_path)
    assert failed.returncode == 3
    assert failed.stdout.splitlines() == ["resolving"]
    assert "failed with exit code 3" in failed.stderr
    passed = _bash("pip_run bash -c 'echo \"y does not provide the extra z\"; echo done'", tmp_path)
    assert (passed.returncode, passed.stdout.splitlines()) == (0, ["done", "after"])
