"""Open a CVAT task backup (a .zip or its unpacked folder) and build a ``Task``.

Nothing is extracted to disk: members are read from the archive on demand. Every
backup era of spec §1.5 is accepted; missing keys get CVAT's defaults.
"""

from __future__ import annotations

import json
import lzma
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any, TypeVar

from cvat_bridge import validate, validate_task
from cvat_bridge.annotations_json import (
    AnnotationParser,
    NotSplittable,
    iter_entry_texts,
    loads_entry,
    parse_annotations,
)
from cvat_bridge.annotations_json import as_bool as _as_bool
from cvat_bridge.backup_source import BackupSource
from cvat_bridge.errors import BackupError
from cvat_bridge.gc_pause import gc_paused
from cvat_bridge.model import Annotations, AttributeSpec, FrameInfo, Job, Label, Task

__all__ = ["BackupSource", "image_size", "load_task", "parse_annotations"]

IMAGE_EXTENSIONS = {
    ".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jpe", ".jp2", ".pbm",
    ".pgm", ".ppm", ".ras", ".sr", ".dib", ".pcx", ".jfif", ".heic", ".avif",
}
VIDEO_EXTENSIONS = {
    ".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv", ".3gp",
    ".ogv", ".ts", ".mts", ".m2ts", ".vob", ".asf",
}
MAX_JSON_BYTES = 2 * 1024**3  # larger task.json/annotations.json is not a real backup
# what reading a broken member raises
DAMAGED_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError)
Result = TypeVar("Result")
KNOWN_SHAPE_TYPES = {"rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton"}


def _load_json(source: BackupSource, name: str) -> Any:
    if not source.exists(name):
        raise BackupError(f"{source.path}: {name} is missing")
    limit = validate.MAX_TASK_JSON_BYTES if name == "task.json" else MAX_JSON_BYTES
    if source.size_of(name) > limit:
        raise BackupError(f"{source.path}: {name} is larger than the limit of {limit} bytes")
    try:
        data = source.read(name)
    except (*DAMAGED_ARCHIVE_ERRORS, OSError) as exc:
        raise BackupError(f"{source.path}: {name} cannot be read, the archive is damaged ({exc})") from None
    try:
        return _json_loads(data)
    except (ValueError, RecursionError) as exc:
        raise BackupError(f"{source.path}: {name} is not valid JSON ({exc})") from None


def _parse_attribute_spec(raw: dict[str, Any]) -> AttributeSpec:
    values = raw.get("values") or []
    if isinstance(values, str):
        values = values.split("\n")
    return AttributeSpec(
        name=str(raw["name"]),
        input_type=str(raw.get("input_type") or "text"),
        mutable=_as_bool(raw.get("mutable", False)),
        default_value=str(raw.get("default_value") if raw.get("default_value") is not None else ""),
        values=[str(v) for v in values],
    )


def _parse_label(raw: dict[str, Any], parent: str | None = None) -> Label:
    label_type = raw.get("type") or "any"
    if label_type not in {"any", "rectangle", "polygon", "polyline", "points", "ellipse", "cuboid",
                          "mask", "skeleton", "tag", "interval"}:
        label_type = "any"  # legacy/unvalidated values (bbox, cuboid_3d, null, ...)
    label = Label(
        name=str(raw["name"]),
        color=str(raw.get("color") or ""),
        type=label_type,
        attributes=[_parse_attribute_spec(a) for a in raw.get("attributes") or []],
        svg=str(raw.get("svg") or ""),
        parent=parent,
    )
    label.sublabels = [_parse_label(s, parent=label.name) for s in raw.get("sublabels") or []]
    return label


def _parse_job(raw: dict[str, Any]) -> Job:
    frames = raw.get("frames")
    return Job(
        start_frame=int(raw.get("start_frame", 0)),
        stop_frame=int(raw.get("stop_frame", 0)),
        type=str(raw.get("type") or "annotation"),
        status=str(raw.get("status") or "annotation"),
        frames=[int(f) for f in frames] if frames else None,
        files=[str(f) for f in raw["files"]] if raw.get("files") else None,
    )


def _step_of(frame_filter: str | None) -> int:
    match = re.search(r"step\s*=\s*([1-9]\d*)", frame_filter or "")
    return int(match.group(1)) if match else 1


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _iter_manifest(source: BackupSource) -> Iterator[dict[str, Any]]:
    if source.size_of("data/manifest.jsonl") > validate.MAX_MANIFEST_BYTES:
        raise BackupError(f"{source.path}: data/manifest.jsonl is larger than the limit of "
                          f"{validate.MAX_MANIFEST_BYTES} bytes")
    with source.open("data/manifest.jsonl") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                raise BackupError(f"{source.path}: data/manifest.jsonl line {number} is not JSON") from None
            yield validate_task.check_manifest_line(str(source.path), number, entry)


def _json_loads(data: bytes) -> Any:
    """orjson when present (several times faster on big annotations.json), else the standard library."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson comes with datumaro
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # NaN, Infinity and lone surrogates: the standard library reads them, and validation
        # then names the object that holds them (which --lenient can skip)
        return json.loads(data)


def _png_size(head: bytes) -> tuple[int, int] | None:
    """PNG width and height straight from the IHDR chunk (PNG has no EXIF orientation CVAT applies)."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return None


def image_size(stream: IO[bytes]) -> tuple[int, int]:
    """(width, height) from the image header, with EXIF orientations 5-8 swapping them as CVAT does."""
    head = stream.read(24)
    size = _png_size(head)
    if size is not None:
        return size
    stream.seek(0)
    from PIL import Image

    with Image.open(stream) as image:
        width, height = image.size
        try:
            orientation = image.getexif().get(0x0112, 1)
        except Exception:  # noqa: BLE001 - broken EXIF does not change the size
            orientation = 1
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return width, height


def _suffix(name: str) -> str:
    """``PurePosixPath(name).suffix.lower()``, without building a path (2,000 names of large)."""
    last = name.rpartition("/")[2]
    if not last or last == "." or "//" in name or "/./" in name or name.startswith("./"):
        return PurePosixPath(name).suffix.lower()  # what pathlib normalises away
    dot = last.rfind(".")
    return last[dot:].lower() if 0 < dot < len(last) - 1 else ""


def _read_media(source: BackupSource, data: dict[str, Any]) -> tuple[str, list[FrameInfo], str, bool]:
    """Media kind, frame table (absolute frames), video name, and whether pixels are present."""
    media = [n[len("data/"):] for n in source.names() if n.startswith("data/")
             and n not in ("data/manifest.jsonl", "data/index.json")]
    suffixes = [_suffix(n) for n in media]
    videos = [n for n, suffix in zip(media, suffixes, strict=True) if suffix in VIDEO_EXTENSIONS]
    images = [n for n, suffix in zip(media, suffixes, strict=True)
              if suffix in IMAGE_EXTENSIONS and "related_images" not in n.split("/")]
    if source.exists("data/manifest.jsonl"):
        lines = list(_iter_manifest(source))
        kind = next((line["type"] for line in lines if "type" in line), None)
        if kind == "video":
            props = next((line["properties"] for line in lines if "properties" in line), {})
            width, height = (int(v) for v in props.get("resolution", (0, 0)))
            length = int(props.get("length", 0))
            name = str(props.get("name", videos[0] if videos else ""))
            frames = [FrameInfo(f"frame_{i:06d}", width, height) for i in range(length)]
            return "video", frames, PurePosixPath(name).name, bool(videos)
        frames = []
        for line in lines:
            if "name" not in line:
                continue
            name = f"{line['name']}{line.get('extension', '')}"
            frames.append(FrameInfo(name, int(line.get("width", 0)), int(line.get("height", 0))))
        present = bool(frames) and all(source.exists("data/" + f.name) for f in frames)
        return "images", frames, "", present
    if videos:
        return _probe_video(source, videos[0])
    if not images:
        raise BackupError(f"{source.path}: data/ holds no images, video or manifest.jsonl")
    sorting = data.get("sorting_method") or "lexicographical"
    ordered = sorted(images, key=_natural_key) if sorting == "natural" else sorted(images)
    try:
        heads: list[bytes | None] = list(source.heads(["data/" + name for name in ordered], 24))
    except Exception:  # noqa: BLE001 - read one by one below, where a failure names its image
        heads = [None] * len(ordered)
    frames = []
    for name, head in zip(ordered, heads, strict=True):
        try:
            if head is None:
                head = source.head("data/" + name, 24)
            size = _png_size(head)  # most images: without opening them
            if size is None:
                with source.open("data/" + name) as stream:
                    size = image_size(stream)
            width, height = size
        except Exception as exc:  # noqa: BLE001 - any decoder error means a broken image
            raise BackupError(f"{source.path}: data/{name} is not a readable image ({exc})") from None
        frames.append(FrameInfo(name, width, height))
    return "images", frames, "", True


def _probe_video(source: BackupSource, name: str) -> tuple[str, list[FrameInfo], str, bool]:
    try:
        from cvat_bridge.video import probe_video
    except ImportError:
        raise BackupError(
            f"{source.path}: the video task has no data/manifest.jsonl; install 'cvat-bridge[video]' "
            "(PyAV) so the video can be read"
        ) from None
    width, height, length = probe_video(source, "data/" + name)
    frames = [FrameInfo(f"frame_{i:06d}", width, height) for i in range(length)]
    return "video", frames, PurePosixPath(name).name, True


def load_task(path: str | Path, *, lenient: bool = False) -> Task:
    """Read a task backup (.zip or folder) into a ``Task``, validating it first.

    A bad annotation object stops the load with a ``BackupError`` that names it; with
    ``lenient`` it is left out instead and listed in ``Task.skipped`` (``validate.Problem``).
    """
    source = BackupSource(path)
    try:
        with gc_paused(promote=True):
            return _build_task(source, lenient)
    except DAMAGED_ARCHIVE_ERRORS as exc:
        raise BackupError(f"{source.path}: the archive is damaged ({exc})") from None
    finally:
        source.close()


def _read_annotations(source: BackupSource, read: Callable[[Iterator[Any]], Result]) -> Result:
    """``read`` over the entries of annotations.json: their texts (bytes) when the file can be
    cut between them, else (``NotSplittable``, raised by ``read`` too) the entries of the whole
    file parsed at once."""
    if not source.exists("annotations.json"):
        raise BackupError(f"{source.path}: annotations.json is missing")
    if source.size_of("annotations.json") > MAX_JSON_BYTES:
        raise BackupError(f"{source.path}: annotations.json is larger than the limit of {MAX_JSON_BYTES} bytes")
    try:
        with source.open("annotations.json") as stream:
            return read(iter_entry_texts(stream))
    except NotSplittable:
        pass
    except (*DAMAGED_ARCHIVE_ERRORS, OSError) as exc:
        raise BackupError(
            f"{source.path}: annotations.json cannot be read, the archive is damaged ({exc})") from None
    whole = _load_json(source, "annotations.json")
    if not isinstance(whole, list):
        raise BackupError(f"{source.path}: annotations.json is not a JSON array")
    return read(iter(whole))


TYPED_MIN_BYTES = 1 << 20  # smaller annotations.json files are read without msgspec (its import costs more)


def _typed_entries(checker: validate.AnnotationsChecker, parser: AnnotationParser, size: int) -> Any:
    """The msgspec path of whole entries (``annotations_typed``), for big files when msgspec is there."""
    if size < TYPED_MIN_BYTES:
        return None
    try:
        from cvat_bridge.annotations_typed import TypedEntries
    except ImportError:  # msgspec is missing: every entry takes the orjson path
        return None
    return TypedEntries(checker.fast_objects(parser))


def _entry_value(entry: Any) -> Any:
    """An entry of ``_read_annotations``, parsed if it is still text."""
    return loads_entry(entry) if isinstance(entry, bytes) else entry


def _build_task(source: BackupSource, lenient: bool = False) -> Task:
    meta = _load_json(source, "task.json")
    if not isinstance(meta, dict):
        raise BackupError(f"{source.path}: task.json is not a JSON object")
    where = str(source.path)
    validate_task.check_task_json(where, meta)
    try:
        labels = [_parse_label(raw) for raw in meta.get("labels") or []]
        jobs = [_parse_job(raw) for raw in meta.get("jobs") or []]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BackupError(
            f"{source.path}: task.json or annotations.json has an unexpected structure ({exc!r})"
        ) from None
    data = meta.get("data") or {}
    kind, frames, video_name, present = _read_media(source, data)
    if not frames:
        raise BackupError(f"{source.path}: the task has no frames")
    validate_task.check_frames(where, frames)
    validate_task.check_skeletons(where, labels)
    start = int(data.get("start_frame") or 0)
    step = _step_of(data.get("frame_filter"))
    stop = data.get("stop_frame")
    last = len(frames) - 1 if stop is None else min(int(stop), len(frames) - 1)
    if start > last:
        raise BackupError(f"{source.path}: start_frame {start} is beyond the last frame {len(frames) - 1}")
    stop_on_grid = start + (last - start) // step * step
    if not jobs:
        jobs = [Job(0, (stop_on_grid - start) // step)]
    size = (stop_on_grid - start) // step + 1
    deleted = {int(f) for f in data.get("deleted_frames") or []}
    validate_task.check_jobs(where, jobs, size)

    def frame_size(relative: int) -> tuple[int, int]:
        info = frames[start + relative * step]
        return info.width, info.height

    def read(entries: Iterator[Any]) -> tuple[list[Annotations], list[validate.Problem]]:
        checker = validate.AnnotationsChecker(where, labels, size=size, frame_size=frame_size, deleted=deleted,
                                              lenient=lenient)
        parser = AnnotationParser()
        typed = _typed_entries(checker, parser, source.size_of("annotations.json"))
        parsed = []
        for number, entry in enumerate(entries, 1):
            if number > len(jobs):
                total = number + sum(1 for _ in map(_entry_value, [entry, *entries])) - 1
                raise BackupError(f"{where}: annotations.json has {total} entries, "
                                  f"but task.json lists {len(jobs)} jobs")
            annotations = typed.entry(entry) if typed is not None and isinstance(entry, bytes) else None
            if annotations is not None:
                parsed.append(annotations)
                continue
            try:
                parsed.append(checker.objects(number, _entry_value(entry), parser))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:  # pragma: no cover - validated
                raise BackupError(f"{where}: annotations.json has an unexpected structure ({exc!r})") from None
        return parsed, checker.finish()

    job_annotations, skipped = _read_annotations(source, read)
    while len(job_annotations) < len(jobs):
        job_annotations.append(Annotations())
    layout = data.get("validation_layout") or {}
    return Task(
        name=str(meta.get("name") or ""),
        labels=labels,
        jobs=jobs,
        job_annotations=job_annotations[: len(jobs)],
        media_kind=kind,
        frames=frames,
        start_frame=start,
        stop_frame=stop_on_grid,
        step=step,
        deleted_frames={int(f) for f in data.get("deleted_frames") or []},
        subset=str(meta.get("subset") or ""),
        bug_tracker=str(meta.get("bug_tracker") or ""),
        status=str(meta.get("status") or "annotation"),
        video_name=video_name,
        validation_mode=layout.get("mode"),
        validation_frames=[str(f) for f in layout.get("frames") or []],
        source_path=str(source.path),
        media_available=present,
        skipped=skipped,
    )
