"""Fetch MovieLens 100k for `make eval-ml100k`: a public dataset that is not in
../shared/data and that no setting was tuned on. RecBole's wheel on PyPI (MIT; the data
is GroupLens's, research use, cite Harper & Konstan 2015) ships it as tab-separated
"atomic files"; conf/ml100k.toml reads them as they are. The wheel and both files are
checked against pinned SHA-256 digests; a second run finds the files and does nothing.

    python bench/fetch_ml100k.py eval-out/data/ml-100k
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger("fetch_ml100k")
WHEEL = "recbole-1.2.1-py3-none-any.whl"
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
FILES = {  # name inside the wheel's recbole/dataset_example/ml-100k/ -> SHA-256
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}


class FetchError(RuntimeError):
    pass


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def present(target: Path) -> bool:
    return all((target / n).is_file() and sha256((target / n).read_bytes()) == d for n, d in FILES.items())


def fetch(target: Path) -> None:
    if present(target):
        log.info("ml-100k already at %s", target)
        return
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "recbole==1.2.1", "-d", tmp]
        log.info("downloading %s from PyPI", WHEEL)
        subprocess.run(cmd, check=True)
        wheel = Path(tmp) / WHEEL
        if not wheel.is_file() or sha256(wheel.read_bytes()) != WHEEL_SHA256:
            raise FetchError(f"expected {WHEEL} with SHA-256 {WHEEL_SHA256}, found {sorted(Path(tmp).iterdir())}")
        with zipfile.ZipFile(wheel) as zf:
            for name, digest in FILES.items():
                data = zf.read(f"recbole/dataset_example/ml-100k/{name}")
                if sha256(data) != digest:
                    raise FetchError(f"{name}: expected SHA-256 {digest}, found {sha256(data)}")
                (target / name).write_bytes(data)
    log.info("ml-100k written to %s (%s)", target, ", ".join(FILES))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", type=Path)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        fetch(ap.parse_args().target)
    except (FetchError, subprocess.CalledProcessError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
