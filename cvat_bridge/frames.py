"""Frame numbering: relative task frames, absolute media frames, names, and which frames an export includes."""

from __future__ import annotations

from dataclasses import dataclass

from cvat_bridge.model import FrameInfo, Job, Task


def absolute_frame(task: Task, relative: int) -> int:
    return task.start_frame + relative * task.step


def relative_frame(task: Task, absolute: int) -> int:
    offset = absolute - task.start_frame
    if offset % task.step:
        raise ValueError(f"frame {absolute} is not on the task's step grid")
    return offset // task.step


def frame_info(task: Task, relative: int) -> FrameInfo:
    """Name and size of a task frame; video frames are named ``frame_{abs:06d}`` like CVAT."""
    absolute = absolute_frame(task, relative)
    info = task.frames[absolute]
    if task.media_kind == "video":
        return FrameInfo(f"frame_{absolute:06d}", info.width, info.height)
    return info


def _placeholder_frames(task: Task) -> set[int]:
    """Honeypot frames of a GT-pool task: annotation-job frames that repeat a validation image."""
    if task.validation_mode != "gt_pool" or not task.validation_frames:
        return set()
    pool = set(task.validation_frames)
    gt_frames: set[int] = set()
    for job in task.jobs:
        if job.type == "ground_truth":
            gt_frames.update(job_frames(job))
    return {
        rel for rel in range(task.size)
        if rel not in gt_frames and frame_info(task, rel).name in pool
    }


def job_frames(job: Job) -> list[int]:
    """Relative frames a job covers (its specific frames, or its whole range)."""
    if job.frames:
        return sorted(job.frames)
    return list(range(job.start_frame, job.stop_frame + 1))


@dataclass
class FrameSelection:
    """The frames an export covers: a whole task, or one job."""

    task: Task
    job_index: int | None
    frames: list[int]  # included relative frames, ascending
    start: int  # relative, inclusive: first frame of the range
    stop: int  # relative, inclusive: last frame of the range

    @property
    def is_job(self) -> bool:
        return self.job_index is not None

    @property
    def job(self) -> Job | None:
        return None if self.job_index is None else self.task.jobs[self.job_index]


def select_frames(task: Task, job_index: int | None = None) -> FrameSelection:
    """Included frames: the range minus deleted frames (and GT placeholders / non-specific frames)."""
    deleted = task.deleted_frames
    if job_index is None:
        excluded = _placeholder_frames(task)
        frames = [r for r in range(task.size) if r not in deleted and r not in excluded]
        return FrameSelection(task, None, frames, 0, task.size - 1)
    job = task.jobs[job_index]
    frames = [r for r in job_frames(job) if r not in deleted and 0 <= r < task.size]
    return FrameSelection(task, job_index, frames, job.start_frame, job.stop_frame)
