"""cvat-bridge: export CVAT task backups into CVAT's dataset formats, offline.

Public API: ``load_task``, ``to_datumaro``, ``export``.

Importing the package is cheap: each function imports its machinery (and Datumaro, NumPy, ...)
when first called, so the command line loads only what the chosen command needs.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

__all__ = ["load_task", "to_datumaro", "export"]
__version__ = "0.1.0"


class _Package(ModuleType):
    """The package module, whose attribute ``export`` stays the function below for good.

    Importing the submodule ``cvat_bridge.export`` (which happens lazily, whenever someone first
    needs it) would otherwise rebind the package attribute of the same name to the submodule.
    The submodule stays reachable as usual: ``from cvat_bridge.export import export_task``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "export" and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
    from cvat_bridge.export import export as _export

    return _export(path, format, output, job, save_images, **options)
