"""The video of a video task, read with PyAV (the optional ``cvat-bridge[video]`` extra).

Frames are numbered as CVAT numbers them: the position of a decoded frame in presentation
order, from 0. The video is read straight from the backup (a zip member or a file), never
extracted, and decoded in one forward pass: only the current frame is held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from cvat_bridge.errors import BackupError, CvatBridgeError

if TYPE_CHECKING:
    from cvat_bridge.backup import BackupSource

INSTALL_HINT = "install the video extra (pip install 'cvat-bridge[video]') so video frames can be decoded"


def _import_av() -> Any:
    try:
        import av
    except ImportError:
        raise CvatBridgeError(f"this is a video task: {INSTALL_HINT}") from None
    return av


def _open_container(av: Any, stream: IO[bytes], where: str) -> Any:
    try:
        return av.open(stream, mode="r")
    except Exception as exc:  # noqa: BLE001 - PyAV raises many error types for broken media
        raise BackupError(f"{where} is not a readable video ({exc})") from None


def _video_stream(container: Any, where: str) -> Any:
    if not container.streams.video:
        raise BackupError(f"{where} has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def probe_video(source: BackupSource, member_name: str) -> tuple[int, int, int]:
    """(width, height, frame count) of a video in the backup, for tasks without a manifest.

    The count is that of the decoded frames, as CVAT counts them when it writes a manifest;
    container metadata is not trusted for it.
    """
    av = _import_av()
    where = f"{source.path}: {member_name}"
    with source.open(member_name) as raw:
        container = _open_container(av, raw, where)
        try:
            stream = _video_stream(container, where)
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
            length = 0
            for frame in container.decode(stream):
                length += 1
                if not width or not height:
                    width, height = frame.width, frame.height
        except CvatBridgeError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise BackupError(f"{where} cannot be decoded ({exc})") from None
        finally:
            container.close()
    if not length:
        raise BackupError(f"{where} holds no frames")
    return width, height, length


class VideoReader:
    """Frames of one video by number, decoded forward in a single pass.

    Asking for frames in ascending order costs one decode of the video up to the last frame
    asked for; asking for an earlier frame than the current one restarts the decode (correct,
    but slow, so exporters should ask in order — they do, item by item).
    """

    def __init__(self, source: BackupSource, member_name: str) -> None:
        self._av = _import_av()
        self.source = source
        self.member_name = member_name
        self._raw: IO[bytes] | None = None
        self._container: Any = None
        self._frames: Iterator[Any] | None = None
        self._position = -1  # number of the frame in ``_current``
        self._current: Any = None
        self.restarts = 0

    @property
    def where(self) -> str:
        return f"{self.source.path}: {self.member_name}"

    def _open(self) -> None:
        self.close()
        self._raw = self.source.open(self.member_name)
        self._container = _open_container(self._av, self._raw, self.where)
        self._frames = iter(self._container.decode(_video_stream(self._container, self.where)))
        self._position = -1
        self._current = None

    def frame(self, number: int) -> Any:
        """The decoded frame ``number`` (a PyAV ``VideoFrame``)."""
        if number < 0:
            raise IndexError(f"video frame {number} does not exist")
        if self._frames is None or number < self._position:
            if self._frames is not None:
                self.restarts += 1
            self._open()
        assert self._frames is not None
        try:
            while self._position < number:
                self._current = next(self._frames)
                self._position += 1
        except StopIteration:
            raise BackupError(f"{self.where} has {self._position + 1} frames; frame {number} is missing") from None
        except Exception as exc:  # noqa: BLE001 - decoder errors in the middle of the file
            raise BackupError(f"{self.where}: frame {self._position + 1} cannot be decoded ({exc})") from None
        return self._current

    def bgr(self, number: int) -> np.ndarray:
        """Frame ``number`` as an 8-bit BGR array (Datumaro's pixel convention)."""
        return self.frame(number).to_ndarray(format="bgr24")

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        if self._raw is not None:
            self._raw.close()
        self._container = self._raw = self._frames = self._current = None
        self._position = -1
