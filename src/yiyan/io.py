"""Small file helpers: atomic writes and JSON/YAML without pickle.

Every file that is written whole goes through `atomic_write`: the content is written to a
temporary file in the same directory, flushed to disk, then renamed over the target,
so a crash never leaves a half-written file that looks valid. The exceptions are the two
append-only logs of a training run, metrics.jsonl and train.log: a crash can cut off their
last line, and resuming rewrites metrics.jsonl (atomically) without it and without the
records after the checkpoint (`training.run_log.forget_metrics_after`); train.log keeps everything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import yaml

FILE_MODE = 0o644


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path` for writing; rename it over `path` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.chmod(tmp_name, FILE_MODE)  # mkstemp creates 0600; run files are meant to be shared
    encoding = None if "b" in mode else "utf-8"
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


@contextlib.contextmanager
def atomic_text_writer(path: str | os.PathLike[str] | None) -> Iterator[IO[str]]:
    """Where a command writes its text output: stdout when `path` is None, else `atomic_write`
    (a temporary sibling renamed over `path` on success), so a failed or interrupted command
    leaves the old file, or none, never a half-written one."""
    if path is None:
        yield sys.stdout
        return
    with atomic_write(path) as handle:
        yield handle


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_write(path) as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2)
        handle.write("\n")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_yaml(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_write(path) as handle:
        yaml.safe_dump(obj, handle, allow_unicode=True, sort_keys=False)


def read_yaml(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)
