"""Small backups built in tests: task.json/annotations.json dictionaries written as a zip or folder."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def png(width: int = 8, height: int = 6, value: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def task_json(labels: list[dict[str, Any]] | None = None, jobs: list[dict[str, Any]] | None = None,
              **data: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "subset": "",
        "labels": labels if labels is not None else [{"name": "car", "color": "#ff0000", "attributes": []}],
        "version": "1.0",
        "data": {"start_frame": 0, "stop_frame": 3, **data},
        # by default one job over the whole range (a job beyond the task's frames is invalid)
        "jobs": jobs if jobs is not None else [
            {"start_frame": 0, "stop_frame": data.get("stop_frame", 3) - data.get("start_frame", 0)}],
    }


def write_backup(path: Path, task: dict[str, Any], annotations: list[dict[str, Any]],
                 media: dict[str, bytes], as_zip: bool = True) -> Path:
    files = {"task.json": json.dumps(task).encode(), "annotations.json": json.dumps(annotations).encode()}
    files.update({f"data/{name}": data for name, data in media.items()})
    if as_zip:
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        return path
    for name, data in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return path


def frames(count: int, width: int = 8, height: int = 6) -> dict[str, bytes]:
    return {f"img_{i:02d}.png": png(width, height, i) for i in range(count)}


def json_paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every addressable position in a JSON document (keys and list indexes from the root), for mutations."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found.extend(json_paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found.extend(json_paths(value, (*prefix, index)))
    return found
