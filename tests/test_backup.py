"""Reading backups: zip and folder, every era's missing keys, media kinds, frame tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cvat_bridge.backup import load_task
from cvat_bridge.errors import BackupError
from tests.builders import frames, png, task_json, write_backup


def test_zip_and_folder_give_the_same_task(tmp_path: Path) -> None:
    task = task_json()
    annotations = [{"version": 0, "tags": [{"frame": 1, "label": "car"}], "shapes": [], "tracks": []}]
    zipped = load_task(write_backup(tmp_path / "b.zip", task, annotations, frames(4)))
    (tmp_path / "folder").mkdir()
    unpacked = load_task(write_backup(tmp_path / "folder", task, annotations, frames(4), as_zip=False))
    assert zipped.frames == unpacked.frames
    assert zipped.job_annotations == unpacked.job_annotations
    assert [f.name for f in zipped.frames] == [f"img_{i:02d}.png" for i in range(4)]
    assert (zipped.frames[0].width, zipped.frames[0].height) == (8, 6)


def test_2021_era_backup_without_types_elements_or_jobs_type(tmp_path: Path) -> None:
    task = task_json(labels=[{"name": "car", "color": "#ff0000", "attributes": [
        {"name": "a", "mutable": False, "input_type": "select", "default_value": "x", "values": "x\ny"}]}])
    del task["subset"]
    annotations = [{"version": 0, "tags": [], "tracks": [], "shapes": [
        {"type": "rectangle", "occluded": False, "z_order": 0, "points": [0, 0, 2, 2], "frame": 0,
         "group": None, "source": "Ground truth", "attributes": [], "label": "car"}]}]
    loaded = load_task(write_backup(tmp_path / "b.zip", task, annotations, frames(4)))
    assert loaded.labels[0].type == "any"
    assert loaded.labels[0].attributes[0].values == ["x", "y"]
    shape = loaded.job_annotations[0].shapes[0]
    assert (shape.group, shape.source, shape.elements, shape.score) == (0, "manual", [], 1.0)
    assert loaded.jobs[0].type == "annotation"
    assert loaded.subset == ""


@pytest.mark.parametrize("legacy_type", [None, "bbox", "cuboid_3d", "something"])
def test_legacy_label_types_become_any(tmp_path: Path, legacy_type: str | None) -> None:
    task = task_json(labels=[{"name": "car", "color": "#ff0000", "attributes": [], "type": legacy_type}])
    loaded = load_task(write_backup(tmp_path / "b.zip", task, [{}], frames(4)))
    assert loaded.labels[0].type == "any"


def test_step_and_stop_are_clipped_to_the_grid_and_media(tmp_path: Path) -> None:
    task = task_json(jobs=[{"start_frame": 0, "stop_frame": 2}], start_frame=1, stop_frame=50,
                     frame_filter="step=3")  # a job must fit the 3 frames
    loaded = load_task(write_backup(tmp_path / "b.zip", task, [{}], frames(9)))
    assert (loaded.start_frame, loaded.stop_frame, loaded.step, loaded.size) == (1, 7, 3, 3)


def test_manifest_gives_order_names_and_sizes(tmp_path: Path) -> None:
    manifest = "\n".join(json.dumps(line) for line in [
        {"version": "1.1"}, {"type": "images"},
        {"name": "b/second", "extension": ".png", "width": 30, "height": 20},
        {"name": "a/first", "extension": ".png", "width": 10, "height": 5},
    ])
    media = {"b/second.png": png(30, 20), "a/first.png": png(10, 5), "manifest.jsonl": manifest.encode()}
    loaded = load_task(write_backup(tmp_path / "b.zip", task_json(stop_frame=1), [{}], media))
    assert [(f.name, f.width, f.height) for f in loaded.frames] == [("b/second.png", 30, 20), ("a/first.png", 10, 5)]
    assert loaded.media_available


def test_lightweight_backup_has_names_but_no_pixels(tmp_path: Path) -> None:
    manifest = "\n".join(json.dumps(line) for line in [
        {"version": "1.1"}, {"type": "images"}, {"name": "x", "extension": ".jpg", "width": 4, "height": 3}])
    loaded = load_task(write_backup(tmp_path / "b.zip", task_json(stop_frame=0), [{}],
                                    {"manifest.jsonl": manifest.encode()}))
    assert loaded.frames[0].name == "x.jpg"
    assert not loaded.media_available


def test_video_manifest_names_frames_like_cvat(tmp_path: Path) -> None:
    manifest = "\n".join(json.dumps(line) for line in [
        {"version": "1.1"}, {"type": "video"}, {"properties": {"name": "v.mp4", "resolution": [64, 48], "length": 20}},
        {"number": 0, "pts": 0}])
    loaded = load_task(write_backup(tmp_path / "b.zip", task_json(stop_frame=19), [{}],
                                    {"v.mp4": b"not decoded here", "manifest.jsonl": manifest.encode()}))
    assert loaded.media_kind == "video" and loaded.mode == "interpolation"
    assert loaded.video_name == "v.mp4"
    assert (loaded.size, loaded.frames[0].width, loaded.frames[0].height) == (20, 64, 48)


def test_overlap_is_derived_from_the_first_two_jobs(tmp_path: Path) -> None:
    jobs = [{"start_frame": 0, "stop_frame": 5}, {"start_frame": 3, "stop_frame": 8},
            {"start_frame": 6, "stop_frame": 9}]
    loaded = load_task(write_backup(tmp_path / "b.zip", task_json(stop_frame=9, jobs=jobs), [{}, {}, {}], frames(10)))
    assert loaded.overlap == 3


@pytest.mark.parametrize(("content", "message"), [
    ({"annotations.json": b"[]"}, r"not a CVAT task backup \(no task.json\)"),
    ({"task.json": b"{}"}, "annotations.json is missing"),
    ({"task.json": b"{", "annotations.json": b"[]"}, "task.json is not valid JSON"),
    ({"task.json": b"[]", "annotations.json": b"[]"}, "task.json is not a JSON object"),
])
def test_broken_backups_fail_with_a_clear_message(tmp_path: Path, content: dict[str, bytes], message: str) -> None:
    import zipfile

    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in content.items():
            archive.writestr(name, data)
        archive.writestr("data/img.png", png())
    with pytest.raises(BackupError, match=message):
        load_task(path)


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "b.zip"
    path.write_bytes(b"hello")
    with pytest.raises(BackupError, match="not a ZIP archive"):
        load_task(path)
