"""Atomic output: write to a hidden temporary file beside the target, then rename.

A crash or Ctrl-C leaves either the previous file or no file, never a
half-written one that looks complete.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator


def temp_path_for(target: Path) -> Path:
    # Same folder (rename stays atomic on one filesystem), same suffix (writers pick formats from it).
    return target.with_name(f".{target.stem}.partial-{os.getpid()}{target.suffix}")


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yields a temporary path to write; it replaces ``target`` only if the block finishes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
