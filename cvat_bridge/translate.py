"""An export view → Datumaro categories and items (spec §2.2), streamed frame by frame.

Skeletons: upstream Datumaro has no skeleton type, so a skeleton becomes ``Points`` with the
skeleton's label, one point per sublabel in the order of the skeleton's ``<circle>`` nodes,
and per-point visibility (absent / hidden / visible), with ``PointsCategories`` naming the
points and joints: the form Datumaro's COCO keypoints and Datumaro formats understand.
"""

from __future__ import annotations

import os.path as osp
from collections.abc import Iterator
from typing import Any

import numpy as np
from datumaro.components.annotation import (
    COORDINATE_ROUNDING_DIGITS,
    AnnotationType,
    Bbox,
    Cuboid2D,
    Ellipse,
    Label,
    LabelCategories,
    Points,
    PointsCategories,
    Polygon,
    PolyLine,
    RleMask,
)
from datumaro.components.dataset_base import DatasetBase, DatasetItem
from datumaro.components.media import Image

from cvat_bridge.errors import BackupError, FormatError
from cvat_bridge.formats.fast_common import convert_value, duplicate_name_message, round2, shape_attributes
from cvat_bridge.formats.fast_skeletons import skeleton_layout  # here since Datumaro-free writers need it too
from cvat_bridge.frames import absolute_frame
from cvat_bridge.model import Label as CvatLabel
from cvat_bridge.model import Tag, Task
from cvat_bridge.view import ExportView, FrameContent, FrameShape


def build_categories(task: Task) -> dict[AnnotationType, Any]:
    labels = LabelCategories(attributes={"occluded"})
    points = PointsCategories()
    for label in task.all_labels():
        if labels.find(label.name)[1] is not None:
            raise FormatError(duplicate_name_message(task, label.name))
        labels.add(label.name, parent=label.parent or "", attributes={a.name for a in label.attributes})
        labels.attributes.update(a.name for a in label.attributes)
    for label in task.labels:
        if label.type == "skeleton":
            names, joints = skeleton_layout(label)
            points.add(labels.find(label.name)[0], names, [list(j) for j in joints])
    categories: dict[AnnotationType, Any] = {AnnotationType.label: labels}
    if points.items:
        categories[AnnotationType.points] = points
    return categories


class Converter:
    """CVAT objects → Datumaro annotations, with CVAT's attribute typing and defaults."""

    def __init__(self, task: Task, categories: dict[AnnotationType, Any], keep_cuboids: bool = False) -> None:
        self.task = task
        self.keep_cuboids = keep_cuboids
        self.label_ids: dict[tuple[str, str | None], int] = {}
        self.labels: dict[tuple[str, str | None], CvatLabel] = {}
        label_cat: LabelCategories = categories[AnnotationType.label]
        for index, label in enumerate(task.all_labels()):
            key = (label.name, label.parent)
            self.label_ids[key] = index
            self.labels[key] = label
            assert label_cat[index].name == label.name
        self.point_names: dict[str, list[str]] = {
            label.name: skeleton_layout(label)[0] for label in task.labels if label.type == "skeleton"
        }

    def label_id(self, name: str, parent: str | None = None) -> int:
        try:
            return self.label_ids[(name, parent)]
        except KeyError:
            raise BackupError(f"unknown label '{name}'" + (f" in skeleton '{parent}'" if parent else "")) from None

    def attributes(self, name: str, values: dict[str, str], parent: str | None = None) -> dict[str, Any]:
        label = self.labels.get((name, parent))
        result: dict[str, Any] = {}
        if label is None:
            return result
        for spec in label.attributes:
            raw = values.get(spec.name, spec.default_value)
            try:
                result[spec.name] = convert_value(spec.input_type, raw)
            except ValueError:
                raise BackupError(
                    f"label '{name}': attribute '{spec.name}' has value '{raw}', not a {spec.input_type}"
                ) from None
        return result

    def tag(self, tag: Tag) -> Label:
        return Label(self.label_id(tag.label), attributes=self.attributes(tag.label, tag.attributes),
                     group=tag.group)

    def shape(self, item: FrameShape, width: int, height: int) -> Any | None:
        s = item.shape
        attrs = shape_attributes(self, item)
        common = dict(label=self.label_id(item.label), attributes=attrs, group=item.group, z_order=s.z_order)
        p = s.points
        if s.type == "rectangle":
            x, y, w, h = p[0], p[1], p[2] - p[0], p[3] - p[1]
            return with_exact_points(Bbox(x, y, w, h, **common), [x, y, x + w, y + h])
        if s.type == "polygon":
            return with_exact_points(Polygon(list(p), **common), p)
        if s.type == "polyline":
            return with_exact_points(PolyLine(list(p), **common), p)
        if s.type == "points":
            return with_exact_points(Points(list(p), **common), p)
        if s.type == "ellipse":
            cx, cy, right, top = p
            box = [2 * cx - right, top, right, 2 * cy - top]
            return with_exact_points(Ellipse(*box, **common), box)
        if s.type == "mask":
            return RleMask(rle=cvat_rle_to_coco(p, width, height), **common)
        if s.type == "cuboid":
            if not self.keep_cuboids:
                return None
            return Cuboid2D([(p[i], p[i + 1]) for i in range(0, 16, 2)], **common)
        if s.type == "skeleton":
            return self.skeleton(item, common)
        return None

    def skeleton(self, item: FrameShape, common: dict[str, Any]) -> Points:
        names = self.point_names.get(item.label, [])
        coords = [0.0, 0.0] * len(names)
        visibility = [Points.Visibility.absent] * len(names)
        for element in item.elements:
            if element.label not in names:
                continue
            index = names.index(element.label)
            e = element.shape
            coords[2 * index: 2 * index + 2] = e.points[:2]
            if e.outside:
                visibility[index] = Points.Visibility.absent
            elif e.occluded:
                visibility[index] = Points.Visibility.hidden
            else:
                visibility[index] = Points.Visibility.visible
        # CVAT marks a skeleton as a keyframe when any element is one; standalone elements never are
        common["attributes"]["keyframe"] = item.track_id is not None and any(
            e.shape.keyframe for e in item.elements)
        return Points(coords, visibility, **common)


def with_exact_points(annotation: Any, points: list[float]) -> Any:
    """Give a shape CVAT's coordinates: float64 rounded to 2 digits, as CVAT's Datumaro fork keeps
    them. Upstream Datumaro 1.13 passes them through float32 (11.9 → 11.8999996), which moves
    rasterised mask edges by a pixel; assigning after construction skips its converter.
    ``round2`` is ``numpy.around(v, 2)`` without a NumPy call per object."""
    if COORDINATE_ROUNDING_DIGITS == 2:
        annotation.points = [round2(v) for v in points]
    else:  # pragma: no cover - Datumaro 1.13 rounds to 2 digits
        annotation.points = np.around(np.asarray(points, dtype=np.float64), COORDINATE_ROUNDING_DIGITS).tolist()
    return annotation


def cvat_rle_to_coco(points: list[float], width: int, height: int) -> dict[str, Any]:
    """CVAT's mask encoding (row-major runs over the box, then left/top/right/bottom) → COCO RLE
    of the whole image."""
    from pycocotools import mask as mask_utils

    left, top, right, bottom = (int(v) for v in points[-4:])
    box_w = right - left + 1
    box_h = bottom - top + 1
    flat = np.zeros(box_w * box_h, dtype=np.uint8)
    position, value = 0, 0
    for run in points[:-4]:
        run = int(run)
        if value:
            flat[position: position + run] = 1
        position += run
        value = 1 - value
    canvas = np.zeros((height, width), dtype=np.uint8)
    box = flat.reshape(box_h, box_w)
    y1, x1 = min(top + box_h, height), min(left + box_w, width)
    canvas[top:y1, left:x1] = box[: y1 - top, : x1 - left]
    return mask_utils.encode(np.asfortranarray(canvas))


class TaskExtractor(DatasetBase):
    """A Datumaro dataset source over one export view; items are made lazily, frame by frame."""

    def __init__(self, view: ExportView, *, keep_cuboids: bool = False, media_loader: Any = None) -> None:
        self.view = view
        self._categories = build_categories(view.task)
        self.converter = Converter(view.task, self._categories, keep_cuboids)
        self.subset = view.task.subset or "default"
        self.media_loader = media_loader
        super().__init__(length=len(view.selection.frames), subsets=[self.subset])

    def categories(self) -> dict[AnnotationType, Any]:
        return self._categories

    def item(self, content: FrameContent) -> DatasetItem:
        info = content.info
        annotations: list[Any] = [self.converter.tag(t) for t in content.tags]
        for shape in content.shapes:
            converted = self.converter.shape(shape, info.width, info.height)
            if converted is not None:
                annotations.append(converted)
        frame = absolute_frame(self.view.task, content.frame)
        if self.view.task.media_kind == "video":
            media_path = info.name + ".PNG"
        else:
            media_path = info.name
        if self.media_loader is not None:
            media = self.media_loader(content.frame, media_path, (info.height, info.width))
        else:
            media = Image.from_file(path=media_path, size=(info.height, info.width))
        return DatasetItem(
            id=osp.splitext(info.name)[0] if self.view.task.media_kind != "video" else info.name,
            subset=self.subset,
            media=media,
            annotations=annotations,
            attributes={"frame": frame},
        )

    def __iter__(self) -> Iterator[DatasetItem]:
        for content in self.view.frames():
            yield self.item(content)


def to_datumaro(task: Task, job: int | None = None, *, keep_cuboids: bool = False) -> Any:
    """A Datumaro ``Dataset`` of a task export, or of job ``job`` (1-based) when given."""
    from datumaro.components.dataset import Dataset

    view = ExportView(task, None if job is None else job - 1)
    return Dataset.from_extractors(TaskExtractor(view, keep_cuboids=keep_cuboids))
