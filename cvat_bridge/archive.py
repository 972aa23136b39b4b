"""Atomic, deterministic output: build in a temporary place beside the target, then rename."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cvat_bridge.errors import CvatBridgeError

STORED_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp4", ".zip", ".avi", ".mkv", ".tif", ".tiff"}


def _zip_time(seconds: float) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(max(seconds, 315532800.0))
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def zip_directory(source: Path, target: Path, timestamp: float) -> None:
    """Write every file below ``source`` into ``target``, sorted, with one fixed timestamp."""
    date = _zip_time(timestamp)
    files = sorted(p for p in source.rglob("*") if p.is_file())
    with zipfile.ZipFile(target, "w") as archive:
        for path in files:
            name = path.relative_to(source).as_posix()
            info = zipfile.ZipInfo(name, date_time=date)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED if path.suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            with open(path, "rb") as src, archive.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


@contextmanager
def atomic_output(target: Path, *, overwrite: bool, timestamp: float) -> Iterator[Path]:
    """Yield an empty work folder; on success its content becomes ``target`` (a .zip or a folder).

    Nothing is left behind on failure, and an existing target is only replaced with ``overwrite``.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise CvatBridgeError(f"{target} already exists (pass --overwrite to replace it)")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise CvatBridgeError(f"{parent}: the output folder does not exist")
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    try:
        content = work / "content"
        content.mkdir()
        yield content
        if target.suffix.lower() == ".zip":
            staged = work / "archive.zip"
            zip_directory(content, staged, timestamp)
        else:
            staged = content
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(staged, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
