"""Atomic, deterministic output: build in a temporary place beside the target, then rename."""

from __future__ import annotations

import glob
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
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise CvatBridgeError(f"{target} already exists (pass --overwrite to replace it)")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise CvatBridgeError(f"{parent}: the output folder does not exist")
    _remove_stale_work(parent, target.name)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=WORK_SUFFIX, dir=parent))
    try:
        (work / OWNER_FILE).write_text(str(os.getpid()))
        content = work / "content"
        content.mkdir()
        yield content
        if target.suffix.lower() == ".zip":
            staged = work / "archive.zip"
            zip_directory(content, staged, timestamp)
        else:
            staged = content
        if target.is_dir() and not target.is_symlink():
            os.replace(target, work / "replaced")  # a folder cannot be replaced in one step: move it aside
        elif target.is_symlink() or (target.exists() and staged.is_dir()):
            target.unlink()
        os.replace(staged, target)  # a file target is replaced atomically
    finally:
        shutil.rmtree(work, ignore_errors=True)


WORK_SUFFIX = ".tmp"
OWNER_FILE = "owner.pid"


def _remove_stale_work(parent: Path, name: str) -> None:
    """Remove work folders of earlier exports to the same target whose process is gone (killed)."""
    for work in parent.glob(f".{glob.escape(name)}.*{WORK_SUFFIX}"):
        try:
            pid = int((work / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being set up
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(work, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def guard_output(target: Path, backup: str | Path) -> None:
    """Refuse outputs whose replacement would destroy the backup or the folder we work in."""
    if not str(backup):
        return
    if Path(target).name in ("", ".", ".."):
        raise CvatBridgeError(f"{target}: the output must name a file or folder")
    out = Path(target).resolve()
    source = Path(backup).resolve()
    if out.name in ("", ".", ".."):
        raise CvatBridgeError(f"{target}: the output must name a file or folder")
    if out == source or out in source.parents or source in out.parents:
        raise CvatBridgeError(f"{target}: the output would replace or sit inside the backup {backup}")
    here = Path.cwd().resolve()
    if out == here or out in here.parents:
        raise CvatBridgeError(f"{target}: the output may not be the current folder or one of its parents")


def describe_os_error(exc: OSError) -> str:
    """An OSError of an export in one line, with paths inside the work folder made relative."""
    name = str(exc.filename or "")
    if f"{WORK_SUFFIX}/content/" in name:
        name = name.split(f"{WORK_SUFFIX}/content/", 1)[1]
        return f"cannot write '{name}' ({exc.strerror or exc})"
    return f"'{name}': {exc.strerror or exc}" if name else str(exc)
