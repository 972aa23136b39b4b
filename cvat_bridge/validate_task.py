"""Validation of what surrounds the annotations: task.json, the media list, jobs, ZIP members.

Problems found here cannot be skipped (not even with ``lenient``): they stop the load with a
``BackupError`` naming the file and the field. See ``validate.py`` for annotations.json.
"""

from __future__ import annotations

import zipfile
from typing import Any

from cvat_bridge.errors import BackupError
from cvat_bridge.model import FrameInfo, Job, Label
from cvat_bridge.validate import (
    INPUT_TYPES,
    MAX_FRAME_PIXELS,
    MAX_FRAME_SIDE,
    MAX_FRAMES,
    MAX_SVG_CHARS,
    SVG_ATTR,
    SVG_CIRCLE,
    is_int,
    is_scalar,
    path_problem,
    quoted,
    short_repr,
    text_problem,
)

# ZIP limits: no real backup comes near them; a ZIP bomb does.
MAX_ZIP_ENTRIES = 1_000_000
MAX_EXPANDED_BYTES = 256 * 1024**3
BOMB_RATIO = 200  # expanded/compressed size of one member; real media and JSON stay far below
BOMB_MIN_BYTES = 64 * 1024**2  # only members at least this large are judged by their ratio
READABLE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def check_zip_members(where: str, members: list[zipfile.ZipInfo]) -> None:
    """Refuse ZIP bombs, archives of too many entries, and encrypted or unreadable members."""
    if len(members) > MAX_ZIP_ENTRIES:
        raise BackupError(f"{where}: the archive has {len(members)} entries, more than the limit of "
                          f"{MAX_ZIP_ENTRIES}")
    total = 0
    for info in members:
        total += info.file_size
        if info.file_size >= BOMB_MIN_BYTES and info.file_size > BOMB_RATIO * max(info.compress_size, 1):
            raise BackupError(f"{where}: {info.filename} expands from {info.compress_size} to {info.file_size} "
                              "bytes: this looks like a ZIP bomb, not a task backup")
        if info.flag_bits & 0x41:  # bit 0: encrypted, bit 6: strong encryption
            raise BackupError(f"{where}: {info.filename} is encrypted; export from an unencrypted backup")
        if info.flag_bits & 0x20:
            raise BackupError(f"{where}: {info.filename} is stored as patch data, which cannot be read")
        if info.compress_type not in READABLE_METHODS:
            raise BackupError(f"{where}: {info.filename} uses ZIP compression method {info.compress_type}, "
                              "which cannot be read")
    if total > MAX_EXPANDED_BYTES:
        raise BackupError(f"{where}: the archive expands to {total} bytes, more than the limit of "
                          f"{MAX_EXPANDED_BYTES}")


def declared_entry_count(path: Any) -> int | None:
    """Entry count from the ZIP's end record, read before the central directory is loaded."""
    try:
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # noqa: SLF001 - stable since Python 2
    except (OSError, AttributeError):
        return None
    return int(end[zipfile._ECD_ENTRIES_TOTAL]) if end else None  # type: ignore[attr-defined]  # noqa: SLF001


# --- task.json ------------------------------------------------------------------------------


class _TaskJson:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, message: str) -> BackupError:
        return BackupError(f"{self.where}: task.json: {message}")

    def optional(self, value: Any, kinds: tuple[type, ...], what: str) -> None:
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds):
            raise self.fail(f"{what} is {short_repr(value)}, not {' or '.join(k.__name__ for k in kinds)}")

    def text(self, value: Any, what: str, *, path: bool = False, component: bool = False) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            raise self.fail(f"{what} is {short_repr(value)}, not a string")
        problem = path_problem(value, component=component) if path else text_problem(value)
        if problem:
            raise self.fail(f"{what} {quoted(value)} {problem}")

    def labels(self, raw: Any) -> None:
        self.optional(raw, (list,), "'labels'")
        self.label_list(raw or [], "label", None)

    def label_list(self, raw: list[Any], kind: str, parent: str | None) -> None:
        seen: set[str] = set()
        for index, label in enumerate(raw, 1):
            if not isinstance(label, dict):
                raise self.fail(f"{kind} #{index} is {short_repr(label)}, not an object")
            name = label.get("name")
            if not isinstance(name, str) or not name:
                raise self.fail(f"{kind} #{index} has no name")
            self.text(name, f"{kind} name", path=True)
            where = f"{kind} {quoted(name)}" + (f" of skeleton {quoted(parent)}" if parent else "")
            if name in seen:
                raise self.fail(f"{where} is defined twice")
            seen.add(name)
            self.optional(label.get("type"), (str,), f"{where}: 'type'")
            self.optional(label.get("color"), (str,), f"{where}: 'color'")
            self.optional(label.get("svg"), (str,), f"{where}: 'svg'")
            if len(label.get("svg") or "") > MAX_SVG_CHARS:
                raise self.fail(f"{where}: the skeleton svg is longer than {MAX_SVG_CHARS} characters")
            self.attribute_specs(label.get("attributes"), where)
            sublabels = label.get("sublabels")
            self.optional(sublabels, (list,), f"{where}: 'sublabels'")
            if sublabels and parent is not None:
                raise self.fail(f"{where} has sublabels of its own; skeletons are one level deep")
            if sublabels:
                self.label_list(sublabels, "sublabel", name)

    def attribute_specs(self, raw: Any, where: str) -> None:
        self.optional(raw, (list,), f"{where}: 'attributes'")
        seen: set[str] = set()
        for index, spec in enumerate(raw or [], 1):
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
                raise self.fail(f"{where}: attribute #{index} has no name")
            name = spec["name"]
            self.text(name, f"{where}: attribute name")
            if name in seen:
                raise self.fail(f"{where}: attribute {quoted(name)} is defined twice")
            seen.add(name)
            input_type = spec.get("input_type")
            if input_type is not None and input_type not in INPUT_TYPES:
                raise self.fail(f"{where}: attribute {quoted(name)} has input_type {short_repr(input_type)}, "
                                f"not one of {', '.join(INPUT_TYPES)}")
            values = spec.get("values")
            if values is not None and not isinstance(values, str) and (
                    not isinstance(values, list) or not all(is_scalar(v) for v in values)):
                raise self.fail(f"{where}: attribute {quoted(name)} has 'values' {short_repr(values)}, "
                                "not a list of strings")
            for value in values if isinstance(values, list) else [values or ""]:
                self.text(str(value), f"{where}: a value of attribute {quoted(name)}")
            default = spec.get("default_value")
            if default is not None and not is_scalar(default):
                raise self.fail(f"{where}: attribute {quoted(name)} has default_value {short_repr(default)}")
            self.text(str(default or ""), f"{where}: the default of attribute {quoted(name)}")

    def data(self, raw: Any) -> None:
        self.optional(raw, (dict,), "'data'")
        data = raw or {}
        for key in ("start_frame", "stop_frame"):
            value = data.get(key)
            if value is not None and (not is_int(value) or value < 0):
                raise self.fail(f"data.{key} is {short_repr(value)}, not a frame number")
        self.optional(data.get("frame_filter"), (str,), "data.frame_filter")
        self.optional(data.get("sorting_method"), (str,), "data.sorting_method")
        deleted = data.get("deleted_frames")
        if deleted is not None and (not isinstance(deleted, list) or not all(is_int(f) for f in deleted)):
            raise self.fail(f"data.deleted_frames is {short_repr(deleted)}, not a list of frame numbers")
        layout = data.get("validation_layout")
        self.optional(layout, (dict,), "data.validation_layout")
        frames = (layout or {}).get("frames")
        if frames is not None and (not isinstance(frames, list) or not all(is_scalar(f) for f in frames)):
            raise self.fail(f"data.validation_layout.frames is {short_repr(frames)}, not a list of file names")

    def jobs(self, raw: Any) -> None:
        self.optional(raw, (list,), "'jobs'")
        for index, job in enumerate(raw or [], 1):
            if not isinstance(job, dict):
                raise self.fail(f"job {index} is {short_repr(job)}, not an object")
            for key in ("start_frame", "stop_frame"):
                value = job.get(key, 0)
                if not is_int(value) or value < 0:
                    raise self.fail(f"job {index}: {key} is {short_repr(value)}, not a frame number")
            self.optional(job.get("type"), (str,), f"job {index}: 'type'")
            frames = job.get("frames")
            if frames is not None and (not isinstance(frames, list) or not all(is_int(f) for f in frames)):
                raise self.fail(f"job {index}: 'frames' is {short_repr(frames)}, not a list of frame numbers")
            files = job.get("files")
            if files is not None and (not isinstance(files, list) or not all(is_scalar(f) for f in files)):
                raise self.fail(f"job {index}: 'files' is {short_repr(files)}, not a list of file names")


def check_task_json(where: str, meta: dict[str, Any]) -> None:
    """Raise ``BackupError`` when task.json does not have the structure of a CVAT task backup."""
    check = _TaskJson(where)
    check.text(meta.get("name"), "the task name")
    check.text(meta.get("subset"), "the subset", path=True, component=True)
    check.labels(meta.get("labels"))
    check.data(meta.get("data"))
    check.jobs(meta.get("jobs"))


def check_skeletons(where: str, labels: list[Label]) -> None:
    """Every point of a skeleton's svg must be one of its sublabels, and every sublabel a point."""
    for label in labels:
        if label.type != "skeleton":
            continue
        names = [dict(SVG_ATTR.findall(m.group(0))).get("data-label-name") for m in SVG_CIRCLE.finditer(label.svg)]
        points = [n for n in names if n is not None]
        if not points:
            continue
        sublabels = {s.name for s in label.sublabels}
        unknown = sorted(set(points) - sublabels)
        missing = [s.name for s in label.sublabels if s.name not in points]
        twice = sorted({n for n in points if points.count(n) > 1})
        for problem, found in (("names points that are not its sublabels", unknown),
                               ("has no point for the sublabels", missing), ("names points twice", twice)):
            if found:
                raise BackupError(f"{where}: task.json: skeleton {quoted(label.name)}: the svg {problem}: "
                                  + ", ".join(f"{quoted(n)}" for n in found))


# --- media and jobs ---------------------------------------------------------------------------


def check_manifest_line(where: str, number: int, line: Any) -> dict[str, Any]:
    """One parsed line of data/manifest.jsonl, checked; returned for convenience."""

    def fail(message: str) -> BackupError:
        return BackupError(f"{where}: data/manifest.jsonl line {number}: {message}")

    if number > MAX_FRAMES + 3:
        raise fail(f"the manifest lists more than the limit of {MAX_FRAMES} frames")
    if not isinstance(line, dict):
        raise fail(f"{short_repr(line)} is not a JSON object")
    if "type" in line and line["type"] not in ("images", "video"):
        raise fail(f"unknown media type {short_repr(line['type'])}")
    props = line.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            raise fail("'properties' is not an object")
        size = props.get("resolution", [0, 0])
        if (not isinstance(size, list) or len(size) != 2
                or not all(is_int(v) and 0 <= v <= MAX_FRAME_SIDE for v in size)):
            raise fail(f"video resolution {short_repr(size)} is not two sizes up to {MAX_FRAME_SIDE}")
        length = props.get("length", 0)
        if not is_int(length) or not 0 <= length <= MAX_FRAMES:
            raise fail(f"video length {short_repr(length)} is not a frame count up to {MAX_FRAMES}")
        if not isinstance(props.get("name", ""), str):
            raise fail("the video name is not a string")
    if "name" in line:
        name, extension = line["name"], line.get("extension", "")
        if not isinstance(name, str) or not name or not isinstance(extension, str):
            raise fail("the image name is not a string")
        problem = path_problem(name + extension)
        if problem:
            raise fail(f"image name {quoted(name + extension)} {problem}")
        for key in ("width", "height"):
            value = line.get(key, 0)
            if not is_int(value) or not 0 <= value <= MAX_FRAME_SIDE:
                raise fail(f"image {key} {short_repr(value)} is not a size up to {MAX_FRAME_SIDE}")
    return line


def check_frame_count(where: str, count: int) -> None:
    if count > MAX_FRAMES:
        raise BackupError(f"{where}: the backup has {count} frames, more than the limit of {MAX_FRAMES}")


def check_jobs(where: str, jobs: list[Job], size: int) -> None:
    """Every job must cover frames of the task (relative frames ``0..size-1``)."""
    for index, job in enumerate(jobs, 1):
        if job.start_frame > job.stop_frame:
            raise BackupError(f"{where}: task.json: job {index} starts at frame {job.start_frame}, "
                              f"after its stop frame {job.stop_frame}")
        if job.stop_frame >= size:
            raise BackupError(f"{where}: task.json: job {index} covers frames {job.start_frame}-{job.stop_frame}, "
                              f"but the task has frames 0-{size - 1}")
        outside = [f for f in job.frames or [] if not 0 <= f < size]
        if outside:
            raise BackupError(f"{where}: task.json: job {index} lists frame {outside[0]}, "
                              f"but the task has frames 0-{size - 1}")




def check_frames(where: str, frames: list[FrameInfo]) -> None:
    """Frame names become output paths (item ids); sizes feed mask canvases."""
    check_frame_count(where, len(frames))
    for info in frames:
        problem = path_problem(info.name)
        if problem:
            raise BackupError(f"{where}: the frame name {quoted(info.name)} {problem}")
        if not (0 <= info.width <= MAX_FRAME_SIDE and 0 <= info.height <= MAX_FRAME_SIDE
                and info.width * info.height <= MAX_FRAME_PIXELS):
            raise BackupError(f"{where}: frame {quoted(info.name)} is {info.width}x{info.height}, larger than "
                              f"the limits of {MAX_FRAME_SIDE} pixels a side and {MAX_FRAME_PIXELS} pixels")
