"""cvat-bridge: export CVAT task backups into CVAT's dataset formats, offline.

Public API: ``load_task``, ``to_datumaro``, ``export``.
"""

from __future__ import annotations

from typing import Any

# Importing the submodule binds the package attribute ``export`` to it; doing it here, before the
# function ``export`` below is defined, keeps ``cvat_bridge.export(...)`` the function for good.
import cvat_bridge.export as _export_module

__all__ = ["load_task", "to_datumaro", "export"]
__version__ = "0.1.0"


def load_task(path: Any, *, lenient: bool = False) -> Any:
    """Read a CVAT task backup (.zip or unpacked folder) into a ``cvat_bridge.model.Task``.

    The backup is validated first; a bad annotation object raises ``BackupError`` naming it,
    or with ``lenient`` is left out and listed in ``task.skipped``.
    """
    from cvat_bridge.backup import load_task as _load

    return _load(path, lenient=lenient)


def to_datumaro(task: Any, job: int | None = None) -> Any:
    """A Datumaro ``Dataset`` of the task (merged jobs) or of one job (1-based)."""
    from cvat_bridge.translate import to_datumaro as _to_datumaro

    return _to_datumaro(task, job)


def export(path: Any, format: str, output: Any, job: int | None = None, save_images: bool = False,
           **options: Any) -> Any:
    """Export the backup at ``path`` in ``format`` to ``output`` (.zip → archive, else a folder)."""
    return _export_module.export(path, format, output, job, save_images, **options)
