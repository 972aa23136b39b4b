"""Task metadata that a backup does not hold (ids, users, dates, URLs): stable placeholders.

DELTAS.md item 6/7: ids are 0 unless given, URLs use ``server_url`` if given, dates come
from ``SOURCE_DATE_EPOCH`` when set, otherwise from the time of export.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from cvat_bridge.model import Task


def export_timestamp() -> float:
    """Seconds since the epoch used for every date and zip entry of an export."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        try:
            return max(float(epoch), 315532800.0)  # ZIP cannot store dates before 1980
        except ValueError:
            pass
    return time.time()


def cvat_date(seconds: float) -> str:
    """A date written like CVAT writes it: ``2025-03-01 10:00:00.123456+00:00``."""
    return str(datetime.fromtimestamp(seconds, tz=timezone.utc))


@dataclass
class Segment:
    id: int
    start: int
    stop: int
    url: str


@dataclass
class ExportMeta:
    task_id: int = 0
    job_id: int = 0
    owner: str = ""
    created: str = ""
    updated: str = ""
    dumped: str = ""
    original_width: int = 0
    original_height: int = 0
    segments: list[Segment] = field(default_factory=list)


def build_meta(task: Task, job_index: int | None = None, *, server_url: str = "", task_id: int = 0,
               timestamp: float | None = None) -> ExportMeta:
    seconds = export_timestamp() if timestamp is None else timestamp
    date = cvat_date(seconds)
    first = task.frames[task.start_frame] if task.frames else None
    segments = []
    for index, job in enumerate(task.jobs):
        if job.type != "annotation" or (job_index is not None and index != job_index):
            continue
        url = f"{server_url.rstrip('/')}/api/jobs/{index + 1}"
        segments.append(Segment(index + 1, job.start_frame, job.stop_frame, url))
    return ExportMeta(
        task_id=task_id,
        job_id=0 if job_index is None else job_index + 1,
        created=date,
        updated=date,
        dumped=date,
        original_width=first.width if first else 0,
        original_height=first.height if first else 0,
        segments=segments,
    )
