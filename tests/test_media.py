"""--save-images: video frames decoded with PyAV, image files copied byte for byte, lightweight backups.

The video backups are made by fixtures/make_video.py: frame ``i`` has its own colour and a
square at its own place, so a frame saved under another number fails the pixel checks.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cvat_bridge.backup import load_task
from cvat_bridge.cli import main
from cvat_bridge.errors import CvatBridgeError
from cvat_bridge.export import export, export_task
from cvat_bridge.formats.registry import find_format
from tests.builders import task_json, write_backup
from tests.conftest import SAMPLE
from tests.writer_checks import make_video_module

av = pytest.importorskip("av", reason="PyAV (the 'video' extra) is needed to make and read video backups")

WIDTH, HEIGHT, COUNT = 64, 48, 12
# absolute frames 1, 3, 5, 7, 9, 11 (step 2); relative frame 2 (absolute 5) is deleted
RANGED = {"start": 1, "stop": 11, "step": 2, "deleted": [2]}
RANGED_FRAMES = [1, 3, 7, 9, 11]
IMAGE_DIRS = {"CVAT for video 1.1": "images", "COCO 1.0": "images", "YOLO 1.1": "obj_train_data", "MOT 1.1": "img1"}


def video_backup(path: Path, *, ranged: bool = False, **options: Any) -> Path:
    mv = make_video_module()
    task = mv.task_meta(COUNT, **RANGED) if ranged else None
    return mv.make_video_backup(path, count=COUNT, width=WIDTH, height=HEIGHT, task=task, **options)


@pytest.fixture(scope="module")
def lossless_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ranged video task (start 1, stop 11, step 2, one deleted frame) in a lossless FFV1 clip."""
    return video_backup(tmp_path_factory.mktemp("video") / "ffv1.zip", ranged=True, codec="ffv1",
                        container="matroska")


def rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def images_in(archive: zipfile.ZipFile, folder: str) -> dict[str, bytes]:
    prefix = folder + "/"
    return {n[len(prefix):]: archive.read(n) for n in archive.namelist()
            if n.startswith(prefix) and n.lower().endswith((".png", ".jpg"))}


@pytest.mark.parametrize("format_name", list(IMAGE_DIRS))
def test_video_frames_are_saved_as_cvat_names_them_with_their_pixels(format_name: str, lossless_backup: Path,
                                                                     tmp_path: Path) -> None:
    out = export(lossless_backup, format_name, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(out) as archive:
        images = images_in(archive, IMAGE_DIRS[format_name])
        names = archive.namelist()
    assert sorted(images) == [f"frame_{n:06d}.PNG" for n in RANGED_FRAMES]
    assert len([n for n in names if n.lower().endswith(".png")]) == len(RANGED_FRAMES), "images elsewhere too"
    for number in RANGED_FRAMES:
        pixels = rgb(images[f"frame_{number:06d}.PNG"])
        assert np.array_equal(pixels, make_video_module().source_frame(number, WIDTH, HEIGHT)), f"frame {number}"


def test_annotation_files_name_the_saved_frames(lossless_backup: Path, tmp_path: Path) -> None:
    coco = export(lossless_backup, "COCO 1.0", tmp_path / "coco.zip", save_images=True)
    with zipfile.ZipFile(coco) as archive:
        listed = [i["file_name"] for i in json.loads(archive.read("annotations/instances_default.json"))["images"]]
    assert listed == [f"frame_{n:06d}.PNG" for n in RANGED_FRAMES]
    yolo = export(lossless_backup, "YOLO 1.1", tmp_path / "yolo.zip", save_images=True)
    with zipfile.ZipFile(yolo) as archive:
        lines = archive.read("train.txt").decode().split()
        assert lines == [f"data/obj_train_data/frame_{n:06d}.PNG" for n in RANGED_FRAMES]
        assert all(line[len("data/"):] in archive.namelist() for line in lines)


def test_mp4_frames_are_close_to_the_source_and_in_order(tmp_path: Path) -> None:
    backup = video_backup(tmp_path / "h264.zip")  # H.264 in MP4, lossy, as most uploads are
    out = export(backup, "CVAT for images 1.1", tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(out) as archive:
        images = images_in(archive, "images")
    assert sorted(images) == [f"frame_{n:06d}.PNG" for n in range(COUNT)]
    sources = [make_video_module().source_frame(n, WIDTH, HEIGHT) for n in range(COUNT)]
    for number in range(COUNT):
        errors = [np.abs(rgb(images[f"frame_{number:06d}.PNG"]) - s).mean() for s in sources]
        assert errors[number] < 4, f"frame {number} differs from its source by {errors[number]:.1f} on average"
        assert int(np.argmin(errors)) == number


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["cvat-bridge", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
        sys.exit(0)
    return int(exit_info.value.code or 0), capsys.readouterr().err


def test_jpg_frames_of_annotated_frames_only(lossless_backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # the box track covers relative frames 0..3 (absolute 1, 3, 5, 7); 5 is deleted
    out = tmp_path / "mot.zip"
    code, err = run_cli(["export", "-t", str(lossless_backup), "-f", "MOT 1.1", "-o", str(out), "--save-images",
                         "--image-format", "JPG", "--only-annotated", "-q"], monkeypatch, capsys)
    assert code == 0, err
    with zipfile.ZipFile(out) as archive:
        images = images_in(archive, "img1")
        rows = archive.read("gt/gt.txt").decode().split()
    assert sorted(images) == ["frame_000001.jpg", "frame_000003.jpg", "frame_000007.jpg"]
    assert len(rows) == 3
    for name, data in images.items():
        assert data[:3] == b"\xff\xd8\xff", f"{name} is not a JPEG"
        source = make_video_module().source_frame(int(name[6:12]), WIDTH, HEIGHT)
        assert np.abs(rgb(data) - source).mean() < 4


def test_only_annotated_drops_empty_frames_from_cvat_xml(lossless_backup: Path, tmp_path: Path) -> None:
    out = export(lossless_backup, "CVAT for images 1.1", tmp_path / "out.zip", save_images=True, only_annotated=True)
    with zipfile.ZipFile(out) as archive:
        xml = archive.read("annotations.xml").decode()
        images = images_in(archive, "images")
    assert sorted(images) == ["frame_000001.PNG", "frame_000003.PNG", "frame_000007.PNG"]
    assert xml.count("<image ") == 3 and 'name="frame_000009"' not in xml


def test_frames_are_decoded_in_one_pass(lossless_backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cvat_bridge.video import VideoReader

    opened: list[int] = []
    original = VideoReader._open

    def counting_open(self: VideoReader) -> None:
        opened.append(1)
        original(self)

    monkeypatch.setattr(VideoReader, "_open", counting_open)
    for format_name in ("COCO 1.0", "CVAT for video 1.1"):
        opened.clear()
        export(lossless_backup, format_name, tmp_path / f"{len(format_name)}.zip", save_images=True)
        assert len(opened) == 1, f"{format_name}: the video was opened {len(opened)} times"


def test_video_without_manifest_is_probed(tmp_path: Path) -> None:
    backup = video_backup(tmp_path / "plain.zip", manifest=False, codec="ffv1", container="matroska")
    task = load_task(backup)
    assert (task.media_kind, task.video_name, task.size) == ("video", "clip.mkv", COUNT)
    assert (task.frames[0].width, task.frames[0].height) == (WIDTH, HEIGHT)
    out = export_task(task, find_format("YOLO 1.1"), tmp_path / "yolo.zip", save_images=True)
    with zipfile.ZipFile(out) as archive:
        assert len(images_in(archive, "obj_train_data")) == COUNT


def test_lightweight_backup_exports_annotations_but_not_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    backup = video_backup(tmp_path / "light.zip", video=False)
    task = load_task(backup)
    assert not task.media_available
    out = export_task(task, find_format("COCO 1.0"), tmp_path / "coco.zip")
    with zipfile.ZipFile(out) as archive:
        assert len(json.loads(archive.read("annotations/instances_default.json"))["images"]) == COUNT
    with pytest.raises(CvatBridgeError, match="no media"):
        export_task(task, find_format("COCO 1.0"), tmp_path / "coco_images.zip", save_images=True)
    target = tmp_path / "cli.zip"
    code, err = run_cli(["export", "-t", str(backup), "-f", "CVAT for video 1.1", "-o", str(target),
                         "--save-images"], monkeypatch, capsys)
    assert code == 2 and "lightweight" in err and "--save-images" in err
    assert not target.exists() and not list(tmp_path.glob(".cli.zip*"))


def test_missing_pyav_is_named(lossless_backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # import av now fails
    with pytest.raises(CvatBridgeError, match=r"cvat-bridge\[video\]"):
        export(lossless_backup, "MOT 1.1", tmp_path / "mot.zip", save_images=True)
    assert not (tmp_path / "mot.zip").exists()


def test_image_files_are_copied_byte_for_byte_with_their_folders(tmp_path: Path) -> None:
    with zipfile.ZipFile(SAMPLE) as backup:
        originals = {n[len("data/"):]: backup.read(n) for n in backup.namelist() if n.endswith(".png")}
    assert any("/" in name for name in originals), "the sample should have sub-folders"
    del originals["right/img_06.png"]  # deleted frame 6: CVAT leaves it out
    for format_name, folder in (("CVAT for images 1.1", "images"), ("COCO 1.0", "images"),
                                ("YOLO 1.1", "obj_train_data")):
        out = export(SAMPLE, format_name, tmp_path / f"{folder}{len(format_name)}.zip", save_images=True)
        with zipfile.ZipFile(out) as archive:
            assert images_in(archive, folder) == originals, format_name


def test_upper_case_extension_is_kept_and_other_formats_re_encode(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.full((6, 8, 3), 90, dtype=np.uint8)).save(buffer, format="JPEG", quality=80)
    jpeg = buffer.getvalue()
    backup = write_backup(tmp_path / "b.zip", task_json(stop_frame=0, jobs=[{"start_frame": 0, "stop_frame": 0}]),
                          [{}], {"DSC_0001.JPG": jpeg})
    out = export(backup, "COCO 1.0", tmp_path / "coco.zip", save_images=True)
    with zipfile.ZipFile(out) as archive:
        assert archive.read("images/DSC_0001.JPG") == jpeg

    from cvat_bridge.media import BackupImage

    image = BackupImage(lambda: jpeg, ext=".JPG", size=(6, 8))
    image.save(str(tmp_path / "same.jpg"))
    image.save(str(tmp_path / "other.png"))
    assert (tmp_path / "same.jpg").read_bytes() == jpeg
    assert (tmp_path / "other.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.abs(rgb((tmp_path / "other.png").read_bytes()) - rgb(jpeg)).max() == 0
