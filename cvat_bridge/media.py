"""The task's media for ``--save-images``: images and video frames read lazily from the backup.

CVAT puts into an export the original bytes of each image (named by its path in the task,
sub-folders included) and, for video tasks, each included frame decoded and saved as
``frame_XXXXXX.PNG`` (upper-case extension, CVAT's ``VIDEO_FRAME_EXT``). Datumaro exporters
name an image file ``<item id><media.ext>`` and write it with ``media.save(path)``; the media
classes here keep the extension's case and write the backup's bytes unchanged when the
target has the same extension (upstream Datumaro's ``ImageFromBytes`` would re-encode).

Memory stays bounded by one frame: bytes are read when an image is saved, video frames are
decoded in one forward pass as the exporter asks for them, nothing is cached beyond that.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from datumaro.components.media import ImageFromBytes, ImageFromNumpy

from cvat_bridge.backup import VIDEO_EXTENSIONS, BackupSource
from cvat_bridge.errors import CvatBridgeError
from cvat_bridge.frames import absolute_frame, frame_info
from cvat_bridge.model import Task
from cvat_bridge.view import ExportView

VIDEO_FRAME_EXT = ".PNG"  # CVAT's extension for frames of video tasks, upper case as CVAT writes it
FRAME_EXTENSIONS = {"png": VIDEO_FRAME_EXT, "jpg": ".jpg"}
JPEG_QUALITY = 95
Size = tuple[int, int]  # (height, width), Datumaro's order


def _target_ext(fp: Any, ext: str | None) -> str:
    if isinstance(fp, (str, os.PathLike)):
        return os.path.splitext(os.fspath(fp))[1]
    return ext or ""


def _write(fp: Any, data: bytes) -> None:
    if isinstance(fp, (str, os.PathLike)):
        os.makedirs(os.path.dirname(os.path.abspath(fp)), exist_ok=True)
        with open(fp, "wb") as f:
            f.write(data)
    else:
        fp.write(data)


def encode_frame(bgr: np.ndarray, ext: str) -> bytes:
    """A BGR frame encoded as PNG or JPEG, chosen by ``ext`` (any case)."""
    import cv2

    kind = ext.lower()
    params = [int(cv2.IMWRITE_JPEG_QUALITY), JPEG_QUALITY] if kind in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(kind, bgr, params)
    if not ok:
        raise CvatBridgeError(f"cannot encode a frame as '{ext}'")
    return encoded.tobytes()


class BackupImage(ImageFromBytes):
    """An image file of the backup, read only when needed and saved byte for byte."""

    def __init__(self, load: Callable[[], bytes], *, ext: str, size: Size | None = None) -> None:
        super().__init__(data=load, ext=ext, size=size)
        self._ext = ext  # Datumaro lower-cases it; CVAT keeps the file's own spelling

    def save(self, fp: Any, ext: str | None = None) -> None:
        target = _target_ext(fp, ext)
        if target.lower() == (self._ext or "").lower():
            _write(fp, self._data())
        else:  # another format was asked for: decode and re-encode, as Datumaro does
            _write(fp, encode_frame(self.data, target or ".png"))


class VideoFrameImage(ImageFromNumpy):
    """A frame of the task's video, decoded when the exporter saves or reads it."""

    def __init__(self, load: Callable[[], np.ndarray], *, ext: str, size: Size | None = None) -> None:
        super().__init__(data=load, ext=ext, size=size)
        self._ext = ext

    def save(self, fp: Any, ext: str | None = None) -> None:
        _write(fp, encode_frame(self.data, _target_ext(fp, ext) or self._ext))


class MediaProvider:
    """Media of the frames of one task, from its backup; use as a context manager.

    ``image_format`` (``"png"`` or ``"jpg"``) chooses how video frames are encoded; CVAT
    writes PNG. Image tasks always keep their original files.
    """

    def __init__(self, task: Task, *, image_format: str | None = None) -> None:
        if not task.media_available:
            raise CvatBridgeError(
                f"{task.source_path}: the backup holds no media (a lightweight backup with only "
                "data/manifest.jsonl, or media files are missing), so --save-images cannot be used; "
                "export the annotations without it"
            )
        fmt = (image_format or "png").lower().lstrip(".")
        if fmt == "jpeg":
            fmt = "jpg"
        if fmt not in FRAME_EXTENSIONS:
            raise CvatBridgeError(f"--image-format must be one of {', '.join(FRAME_EXTENSIONS)}, not '{image_format}'")
        self.task = task
        self.frame_ext = FRAME_EXTENSIONS[fmt]
        self.source = BackupSource(task.source_path)
        self.video: Any = None
        if task.media_kind == "video":
            from cvat_bridge.video import VideoReader

            try:
                self.video = VideoReader(self.source, self._video_member())
            except BaseException:
                self.source.close()
                raise

    def _video_member(self) -> str:
        videos = [n for n in self.source.names() if n.startswith("data/")
                  and PurePosixPath(n).suffix.lower() in VIDEO_EXTENSIONS]
        named = [n for n in videos if PurePosixPath(n).name == self.task.video_name]
        if not (named or videos):
            raise CvatBridgeError(f"{self.task.source_path}: the video file is missing from data/")
        return (named or videos)[0]

    def __enter__(self) -> MediaProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.video is not None:
            self.video.close()
        self.source.close()

    def file_name(self, frame: int) -> str:
        """The file name of a (relative) task frame inside an images folder, as CVAT names it."""
        name = frame_info(self.task, frame).name
        return name + self.frame_ext if self.task.media_kind == "video" else name

    def read(self, frame: int) -> bytes:
        """The encoded file of a task frame: the original bytes, or the encoded video frame."""
        if self.video is not None:
            return encode_frame(self.video.bgr(absolute_frame(self.task, frame)), self.frame_ext)
        return self.source.read("data/" + frame_info(self.task, frame).name)

    def media(self, frame: int, media_path: str = "", size: Size | None = None) -> Any:
        """Datumaro media of a task frame (the ``media_loader`` hook of ``TaskExtractor``)."""
        info = frame_info(self.task, frame)
        size = size or (info.height, info.width)
        if not all(size):
            size = None
        if self.video is not None:
            number = absolute_frame(self.task, frame)
            return VideoFrameImage(lambda: self.video.bgr(number), ext=self.frame_ext, size=size)
        member = "data/" + info.name
        return BackupImage(lambda: self.source.read(member), ext=os.path.splitext(info.name)[1], size=size)

    def write_frames(self, view: ExportView, folder: Path) -> int:
        """Write the file of every frame of ``view`` below ``folder``; return how many."""
        count = 0
        for frame in view.selection.frames:
            target = folder / self.file_name(frame)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.read(frame))
            count += 1
        return count


def annotated_frames(view: ExportView) -> list[int]:
    """The frames of ``view`` that carry a tag or a visible shape (tracks included)."""
    return [content.frame for content in view.frames() if content.shapes or content.tags]


def keep_annotated_frames(view: ExportView) -> None:
    """Narrow the view to its annotated frames (``--only-annotated``)."""
    view.selection = replace(view.selection, frames=annotated_frames(view))


def write_frames(view: ExportView, folder: Path, media: MediaProvider | None = None) -> int:
    """Write the frames of ``view`` into ``folder`` with ``media``, or with a provider of its own."""
    if media is not None:
        return media.write_frames(view, folder)
    with MediaProvider(view.task) as own:
        return own.write_frames(view, folder)

