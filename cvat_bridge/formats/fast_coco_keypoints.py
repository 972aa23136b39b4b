"""COCO Keypoints 1.0 (``annotations/person_keypoints_<subset>.json``) written from the export view.

Writes what the row's Datumaro path writes (``translate.TaskExtractor`` items, the
``ellipses_to_masks`` tweak, ``coco_keypoints.CvatCocoKeypointsExporter`` on Datumaro's
``coco_person_keypoints``) without importing Datumaro; the instance logic is fast_coco's.

- categories: the top-level labels, ``id`` = 1 + index among all labels (sublabels leave gaps),
  ``keypoints``/``skeleton`` from a skeleton label's svg, empty for other labels;
- images as in COCO 1.0 (``id`` = 1 + position);
- keypoint annotations come from skeletons (``Points`` of a skeleton label); a frame without
  one has no annotations at all. First every skeleton of group 0 alone: bbox = extent of its
  points that are not absent, ``segmentation`` [], area = w * h. Then, per non-zero group in
  ascending order, the COCO instance of the group's boxes, polygons, masks and ellipses (as
  COCO 1.0 makes it), completed by the group's first skeleton. Datumaro's exporter drops a
  grouped skeleton whose group has no such shape, and instances without a skeleton: so do we;
- every annotation ends with ``keypoints`` (x, y, v per point, v: 0 absent, 1 hidden, 2
  visible) and ``num_keypoints`` (points not absent); ids 1..N in file order;
- ``--save-images``: ``images/<file_name>`` (CVAT's ``merge_images``), else ``images/<subset>/``.

An export without frames gets a file with no images, where Datumaro writes no file (as fast_coco).
"""

from __future__ import annotations

from typing import Any

import orjson

from cvat_bridge.archive import OutputTree
from cvat_bridge.formats.fast_coco import INFO, INSTANCE_TYPES, LICENSES, CocoInstances, write_images
from cvat_bridge.formats.fast_common import (
    FrameNames,
    LabelTable,
    save_frames,
    shape_attributes,
    subset_name,
)
from cvat_bridge.formats.fast_skeletons import (
    VISIBLE,
    SkeletonPoints,
    joints_in_datumaro_order,
    points_bbox,
    skeleton_layout,
)
from cvat_bridge.meta import ExportMeta
from cvat_bridge.model import Task
from cvat_bridge.view import ExportView, FrameShape

POINT_TYPES = frozenset({"skeleton", "points"})


def categories(task: Task, labels: LabelTable) -> list[dict[str, Any]]:
    """``SkeletonKeypointsWriter.save_categories``: top-level labels with their skeleton layout."""
    result = []
    for index, label in enumerate(labels.labels):
        if label.parent:
            continue
        category: dict[str, Any] = {"id": 1 + index, "name": label.name, "supercategory": "", "keypoints": [],
                                    "skeleton": []}
        if label.type == "skeleton":
            names, joints = skeleton_layout(label)
            category["keypoints"] = names
            category["skeleton"] = joints_in_datumaro_order(joints)
        result.append(category)
    return result


class KeypointInstances:
    """Frame shapes → keypoint annotation objects, as the keypoints exporter makes them."""

    def __init__(self, task: Task, labels: LabelTable) -> None:
        self.labels = labels
        self.instances = CocoInstances(labels)
        self.skeletons = SkeletonPoints(task)
        self.skeleton_ids = {labels.label_id(label.name) for label in task.labels if label.type == "skeleton"}

    def keypoint_shapes(self, shapes: list[FrameShape]) -> list[FrameShape]:
        """The shapes that become ``Points`` of a skeleton label (plain points of other labels do not count)."""
        return [s for s in shapes if s.shape.type in POINT_TYPES and self.labels.label_id(s.label) in self.skeleton_ids]

    def points(self, item: FrameShape) -> tuple[list[float], list[int], dict[str, Any]]:
        """Coordinates, visibility and attributes of the ``Points`` annotation of a shape."""
        attrs = shape_attributes(self.labels, item)
        if item.shape.type == "skeleton":
            coords, visibility = self.skeletons.points(item)
            return coords, visibility, self.skeletons.mark_keyframe(item, attrs)
        coords = [(r / 100.0 if (r := round(v * 100.0)) else 0.0 * v) for v in item.shape.points]  # round2
        return coords, [VISIBLE] * (len(coords) // 2), attrs

    @staticmethod
    def keypoints(coords: list[float], visibility: list[int]) -> dict[str, Any]:
        keypoints: list[Any] = []
        for index, state in enumerate(visibility):
            keypoints += [*coords[2 * index: 2 * index + 2], state]
        return {"keypoints": keypoints, "num_keypoints": sum(1 for v in visibility if v)}

    def solitary(self, item: FrameShape, image_id: int) -> dict[str, Any]:
        """A skeleton of group 0: an instance of its own, boxed by its points."""
        coords, visibility, attrs = self.points(item)
        bbox = points_bbox(coords, visibility)
        element = {"id": 0, "image_id": image_id, "category_id": self.labels.label_id(item.label) + 1,
                   "segmentation": [], "area": float(bbox[2] * bbox[3]),
                   "bbox": [round(float(v), 2) for v in bbox], "iscrowd": 0}
        CocoInstances.finish(element, attrs)
        element.update(self.keypoints(coords, visibility))
        return element

    def annotations(self, shapes: list[FrameShape], image_id: int, width: int, height: int) -> list[dict[str, Any]]:
        skeletons = self.keypoint_shapes(shapes)
        if not skeletons:
            return []
        elements = [self.solitary(s, image_id) for s in skeletons if not s.group]
        groups: dict[int, list[FrameShape]] = {}
        for s in shapes:
            if s.group and s.shape.type in INSTANCE_TYPES:
                groups.setdefault(s.group, []).append(s)
        first_skeleton: dict[int, FrameShape] = {}
        for s in skeletons:
            if s.group:
                first_skeleton.setdefault(s.group, s)
        for group in sorted(groups):
            skeleton = first_skeleton.get(group)
            if skeleton is None:
                continue
            parts = [self.instances.part(s, width, height) for s in groups[group]]
            element = self.instances.instance(parts, image_id, width, height)
            coords, visibility, _ = self.points(skeleton)
            element.update(self.keypoints(coords, visibility))
            elements.append(element)
        return elements


def export_coco_keypoints(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                          media: Any = None, merge_images: bool = False) -> None:
    task = view.task
    labels = LabelTable(task)
    names = FrameNames(view, media)
    names.check_unique(view)
    subset = subset_name(view)
    converter = KeypointInstances(task, labels)
    header = orjson.dumps({"licenses": LICENSES, "info": INFO, "categories": categories(task, labels)})
    with out.open(f"annotations/person_keypoints_{subset}.json") as f:
        f.write(header[:-1] + b',"images":[')
        write_images(f, view, names)
        f.write(b'],"annotations":[')
        next_id = 1
        chunks: list[bytes] = []
        for position, content in enumerate(view.frames()):
            elements = converter.annotations(content.shapes, position + 1, content.info.width, content.info.height)
            if not elements:
                continue
            separator = b"," if next_id > 1 else b""
            for element in elements:
                element["id"] = next_id
                next_id += 1
            chunks.append(separator + orjson.dumps(elements)[1:-1])
            if len(chunks) >= 4096:
                f.write(b"".join(chunks))
                chunks = []
        chunks.append(b"]}")
        f.write(b"".join(chunks))
    if save_images:
        save_frames(view, out.folder / "images" if merge_images else out.folder / "images" / subset, media)
    elif not out.is_zip:  # Datumaro's exporter leaves an empty images/, which its importer requires
        (out.folder / "images").mkdir(exist_ok=True)
