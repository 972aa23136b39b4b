"""What the Datumaro-free writers (fast_coco, fast_mot, fast_yolo) share: label indices,
CVAT's attribute typing and defaults, Datumaro's coordinate rounding, item names.

These writers reproduce, from the export view directly, what ``translate.TaskExtractor`` plus
a Datumaro exporter would write, without importing Datumaro (its import alone costs about
0.5 s). Nothing here imports NumPy either.
"""

from __future__ import annotations

import os.path as osp
from pathlib import Path
from typing import Any

from cvat_bridge.errors import BackupError, FormatError
from cvat_bridge.frames import frame_info
from cvat_bridge.model import Label, Task
from cvat_bridge.view import ExportView

DEFAULT_SUBSET = "default"
VIDEO_FRAME_EXT = ".PNG"  # media.VIDEO_FRAME_EXT, repeated so that media.py need not be imported


def convert_value(spec_type: str, value: str) -> Any:
    """A CVAT attribute value typed as Datumaro-based exports write it."""
    if spec_type == "number":
        return float(value)
    if spec_type == "checkbox":
        return value.lower() == "true"
    return value


def duplicate_name_message(task: Task, name: str) -> str:
    owners = [f"skeleton '{label.parent}'" if label.parent else "a label" for label in task.all_labels()
              if label.name == name]
    return (f"the label name '{name}' is used twice ({' and '.join(owners)}); Datumaro-based formats need "
            "unique label names (CVAT for images and CVAT for video can export this task)")


def round2(value: float) -> float:
    """``numpy.around(value, 2)`` for one float64: multiply, round half to even, divide."""
    scaled = round(value * 100.0)
    return scaled / 100.0 if scaled else 0.0 * value  # keeps numpy's -0.0


def round_box(p: list[float]) -> list[float]:
    """A CVAT box's x1, y1, x2, y2 as ``translate.Converter`` gives them to Datumaro: ``round2`` of
    x, y, x + w, y + h (the sums computed as it does). One call for the hottest path."""
    x, y = p[0], p[1]
    return [(r / 100.0 if (r := round(v * 100.0)) else 0.0 * v) for v in (x, y, x + (p[2] - x), y + (p[3] - y))]


def shape_attributes(labels: Any, item: Any) -> dict[str, Any]:
    """The attributes CVAT gives a shape's annotation: the label's typed spec values, then
    ``occluded``, ``rotation`` (boxes, ellipses) and, for tracked shapes, ``track_id`` and ``keyframe``.

    ``labels`` is anything with ``attributes(name, values)`` (``LabelTable`` or ``translate.Converter``).
    """
    shape = item.shape
    attrs = labels.attributes(item.label, item.attributes)
    attrs["occluded"] = shape.occluded
    if shape.type in ("rectangle", "ellipse"):
        attrs["rotation"] = shape.rotation
    if item.track_id is not None:
        attrs["track_id"] = item.track_id
        attrs["keyframe"] = shape.keyframe
    return attrs


class LabelTable:
    """Datumaro's label order (each label, then its sublabels) and CVAT's attribute typing."""

    def __init__(self, task: Task) -> None:
        self.labels: list[Label] = task.all_labels()
        self.index: dict[tuple[str, str | None], int] = {}
        seen: set[str] = set()
        for position, label in enumerate(self.labels):
            if label.name in seen:
                raise FormatError(duplicate_name_message(task, label.name))
            seen.add(label.name)
            self.index[(label.name, label.parent)] = position
        self._specs: dict[tuple[str, str | None], list[tuple[str, str, str]]] = {
            (label.name, label.parent): [(a.name, a.input_type, a.default_value) for a in label.attributes]
            for label in self.labels
        }

    def top_level_ids(self) -> dict[str, int]:
        """Name → index of the labels that are not sublabels (what frame shapes carry)."""
        return {name: index for (name, parent), index in self.index.items() if parent is None}

    def label_id(self, name: str, parent: str | None = None) -> int:
        try:
            return self.index[(name, parent)]
        except KeyError:
            raise BackupError(f"unknown label '{name}'" + (f" in skeleton '{parent}'" if parent else "")) from None

    def attributes(self, name: str, values: dict[str, str], parent: str | None = None) -> dict[str, Any]:
        """Every attribute of the label's spec, typed, missing ones at their default (``Converter``)."""
        result: dict[str, Any] = {}
        for attr_name, kind, default in self._specs.get((name, parent), ()):
            raw = values.get(attr_name, default)
            if kind == "number":
                try:
                    result[attr_name] = float(raw)
                except ValueError:
                    raise BackupError(
                        f"label '{name}': attribute '{attr_name}' has value '{raw}', not a number") from None
            elif kind == "checkbox":
                result[attr_name] = raw.lower() == "true"
            else:
                result[attr_name] = raw
        return result


class FrameNames:
    """Datumaro's item id and image file name of each frame, as ``TaskExtractor`` makes them."""

    def __init__(self, view: ExportView, media: Any = None, default_ext: str = ".jpg") -> None:
        self.video = view.task.media_kind == "video"
        self.video_ext = media.frame_ext if media is not None else VIDEO_FRAME_EXT
        self.default_ext = default_ext

    def check_unique(self, view: ExportView) -> None:
        """Refuse frames whose names differ only by extension (``a.png``, ``a.jpg``): they would
        be one item, one label file. Datumaro refuses them too (``RepeatedItemError``)."""
        seen: dict[str, str] = {}
        for frame in view.selection.frames:
            name = frame_info(view.task, frame).name
            other = seen.setdefault(self.item_id(name), name)
            if other != name:
                raise FormatError(f"the frames '{other}' and '{name}' would both be item '{self.item_id(name)}' "
                                  "(names that differ only by extension); rename one of them in the task")

    def item_id(self, name: str) -> str:
        return (name if self.video else osp.splitext(name)[0]).replace("\\", "/")

    def ext(self, name: str) -> str:
        return self.video_ext if self.video else osp.splitext(osp.basename(name))[1]

    def file_name(self, name: str) -> str:
        """``<item id><media extension>``, the exporters' ``_make_image_filename``."""
        return self.item_id(name) + (self.ext(name) or self.default_ext)


def subset_name(view: ExportView) -> str:
    return view.task.subset or DEFAULT_SUBSET


def save_frames(view: ExportView, folder: Path, media: Any) -> None:
    """The frames' files under ``folder`` as CVAT names them (``--save-images``)."""
    from cvat_bridge.media import write_frames

    write_frames(view, folder, media)
