"""Frame numbering and selection: step, deleted frames, job ranges, video frame names."""

from __future__ import annotations

from cvat_bridge.frames import absolute_frame, frame_info, relative_frame, select_frames
from cvat_bridge.model import FrameInfo, Job, Task


def _task(**kwargs: object) -> Task:
    defaults: dict[str, object] = dict(
        name="t", labels=[], jobs=[Job(0, 4), Job(5, 9)], job_annotations=[], media_kind="images",
        frames=[FrameInfo(f"sub/f{i}.jpg", 10, 20) for i in range(30)], start_frame=0, stop_frame=9)
    defaults.update(kwargs)
    return Task(**defaults)  # type: ignore[arg-type]


def test_relative_and_absolute_frames_follow_start_and_step() -> None:
    task = _task(start_frame=1, stop_frame=19, step=2)
    assert task.size == 10
    assert absolute_frame(task, 3) == 7
    assert relative_frame(task, 7) == 3
    assert frame_info(task, 3).name == "sub/f7.jpg"


def test_off_grid_absolute_frames_are_rejected() -> None:
    task = _task(start_frame=1, stop_frame=19, step=2)
    try:
        relative_frame(task, 8)
    except ValueError as exc:
        assert "step grid" in str(exc)
    else:
        raise AssertionError("frame 8 is not on a start=1, step=2 grid")


def test_task_selection_skips_deleted_frames_but_keeps_the_range() -> None:
    selection = select_frames(_task(deleted_frames={2, 7}))
    assert selection.frames == [0, 1, 3, 4, 5, 6, 8, 9]
    assert (selection.start, selection.stop) == (0, 9)


def test_job_selection_is_the_job_range_minus_deleted_frames() -> None:
    selection = select_frames(_task(deleted_frames={7}), job_index=1)
    assert selection.frames == [5, 6, 8, 9]
    assert (selection.start, selection.stop, selection.is_job) == (5, 9, True)


def test_specific_frames_jobs_cover_only_their_frames() -> None:
    task = _task(jobs=[Job(0, 9), Job(1, 8, type="ground_truth", frames=[8, 1, 4])])
    assert select_frames(task, job_index=1).frames == [1, 4, 8]


def test_video_frames_are_named_by_absolute_number() -> None:
    task = _task(media_kind="video", start_frame=5, stop_frame=25, step=5,
                 frames=[FrameInfo(f"frame_{i:06d}", 64, 48) for i in range(30)])
    assert frame_info(task, 2) == FrameInfo("frame_000015", 64, 48)


def test_gt_pool_placeholders_are_left_out_of_task_exports() -> None:
    names = ["a.png", "b.png", "v1.png", "c.png", "v1.png", "v1.png"]
    task = _task(frames=[FrameInfo(n, 4, 4) for n in names], stop_frame=5,
                 jobs=[Job(0, 3), Job(4, 5, type="ground_truth", frames=[4])],
                 validation_mode="gt_pool", validation_frames=["v1.png"])
    # frames 2 and 5 repeat the validation image outside the GT job: placeholders
    assert select_frames(task).frames == [0, 1, 3, 4]
