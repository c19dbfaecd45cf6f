"""Locations as URIs: the one place that turns a location into a filesystem.

A location is a local path (made absolute on the driver, so executors in their
own working directories see the same file), `file://`, `hdfs://`, `s3://` (Spark's
`s3a://` is understood), `gs://` or any other scheme pyarrow knows. Driver and
executors both go through here; nothing assumes a shared POSIX mount.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pyarrow.fs as pafs

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
# Hadoop's names for S3 connectors -> the scheme pyarrow and delta-rs use.
_ALIASES = {"s3a": "s3", "s3n": "s3"}


def scheme(location: str) -> str:
    """`s3a://b/x` -> "s3a"; a local path -> "" (also for `file://`)."""
    m = _SCHEME.match(location)
    return "" if m is None or m.group(1) == "file" else m.group(1).lower()


def absolute(location: str) -> str:
    """A location every process can resolve: local paths absolute, URIs unchanged."""
    if scheme(location):
        return location.rstrip("/")
    path = location[len("file://"):] if location.startswith("file://") else location
    return os.path.abspath(path)


def canonical(location: str) -> str:
    """The URI pyarrow and delta-rs understand (`s3a://` -> `s3://`)."""
    s = scheme(location)
    if s in _ALIASES:
        return _ALIASES[s] + absolute(location)[len(s):]
    return absolute(location)


def join(location: str, *parts: str) -> str:
    return "/".join([location.rstrip("/"), *[str(p).strip("/") for p in parts]])


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path within it) for any location."""
    uri = canonical(location)
    if not scheme(uri):
        return pafs.LocalFileSystem(), uri
    return pafs.FileSystem.from_uri(uri)


def list_files(location: str, suffix: str = "") -> list[str]:
    """Data files under `location` (recursive, sorted), as locations of the same
    scheme; Spark's markers and hidden files (`_SUCCESS`, `.crc`) are skipped."""
    fs, root = resolve(location)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    rels = sorted(i.path[len(root):].lstrip("/") for i in infos
                  if i.type == pafs.FileType.File and i.base_name[0] not in "._" and i.base_name.endswith(suffix))
    return [join(location, r) for r in rels]


def list_dirs(location: str) -> list[str]:
    """The folders directly under `location` (sorted), as locations of the same scheme."""
    fs, root = resolve(location)
    infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    return [join(location, i.base_name) for i in sorted(infos, key=lambda i: i.base_name)
            if i.type == pafs.FileType.Directory]


def exists(location: str) -> bool:
    fs, path = resolve(location)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def delete(location: str) -> None:
    """Remove a file or a directory tree; a missing location is fine."""
    fs, path = resolve(location)
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif kind == pafs.FileType.File:
        fs.delete_file(path)


def read_bytes(location: str) -> bytes:
    fs, path = resolve(location)
    with fs.open_input_stream(path) as fh:
        return fh.read()


def write_bytes(location: str, data: bytes) -> None:
    fs, path = resolve(location)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as fh:
        fh.write(data)


def put(local: str | Path, location: str) -> None:
    """Upload a local file or directory tree to `location`."""
    local = Path(local)
    fs, path = resolve(location)
    if local.is_dir():
        fs.create_dir(path, recursive=True)
        pafs.copy_files(str(local), path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    else:
        write_bytes(location, local.read_bytes())


def get(location: str, local: str | Path) -> Path:
    """Download one file to a local path (written whole, then renamed into place, so
    concurrent readers in one worker never see half a file)."""
    local = Path(local)
    local.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(read_bytes(location))
    os.replace(tmp, local)
    return local


def scratch_dir(prefix: str) -> Path:
    """A fresh local directory for files on their way to or from the store."""
    return Path(tempfile.mkdtemp(prefix=f"shoprank-{prefix}-"))


def remove_scratch(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
