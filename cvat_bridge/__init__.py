"""cvat-bridge: export CVAT task backups into CVAT's dataset formats, offline.

Public API: ``load_task``, ``to_datumaro``, ``export``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_task", "to_datumaro", "export"]
__version__ = "0.1.0"


def load_task(path: Any) -> Any:
    """Read a CVAT task backup (.zip or unpacked folder) into a ``cvat_bridge.model.Task``."""
    from cvat_bridge.backup import load_task as _load

    return _load(path)


def to_datumaro(task: Any, job: int | None = None) -> Any:
    """A Datumaro ``Dataset`` of the task (merged jobs) or of one job (1-based)."""
    from cvat_bridge.translate import to_datumaro as _to_datumaro

    return _to_datumaro(task, job)


def export(path: Any, format: str, output: Any, job: int | None = None, save_images: bool = False,
           **options: Any) -> Any:
    """Export the backup at ``path`` in ``format`` to ``output`` (.zip → archive, else a folder)."""
    from cvat_bridge.export import export as _export

    return _export(path, format, output, job, save_images, **options)
