"""COCO Keypoints 1.0 as CVAT writes it, on top of upstream Datumaro's ``coco_person_keypoints``.

CVAT's Datumaro fork has a skeleton type; upstream has not, so skeletons reach this exporter
as ``Points`` of the skeleton label (translate.py), with ``PointsCategories`` naming the points.
Differences from upstream 1.13 (the fork behaves like this):
- categories are the top-level labels only, each with ``id = 1 + its index`` among all labels
  (so ids skip the sublabels), with ``keypoints``/``skeleton`` from the skeleton template;
- only skeletons become keypoint annotations: plain CVAT ``points`` shapes are not exported
  (upstream would turn every ``Points`` into a keypoint annotation).
A skeleton grouped with a box, polygon or mask forms one instance with that shape's bbox;
otherwise its bbox is the extent of its visible and hidden points.
"""

from __future__ import annotations

from typing import Any

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetItem
from datumaro.plugins.data_formats.coco.exporter import CocoPersonKeypointsExporter, _KeypointsExporter
from datumaro.plugins.data_formats.coco.format import CocoTask
from datumaro.util import cast


class SkeletonKeypointsWriter(_KeypointsExporter):
    """The ``person_keypoints`` task writer with CVAT's categories and skeleton-only keypoints."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._skeleton_labels: set[int] = set()

    def save_categories(self, dataset: Any) -> None:
        labels = dataset.categories().get(AnnotationType.label)
        if labels is None:
            return
        points = dataset.categories().get(AnnotationType.points)
        self._skeleton_labels = set(points.items) if points is not None else set()
        for index, label in enumerate(labels.items):
            if label.parent:
                continue
            category: dict[str, Any] = {
                "id": 1 + index,
                "name": cast(label.name, str, ""),
                "supercategory": "",
                "keypoints": [],
                "skeleton": [],
            }
            layout = points.items.get(index) if points is not None else None
            if layout is not None:
                category["keypoints"] = [str(name) for name in layout.labels]
                category["skeleton"] = [list(map(int, joint)) for joint in layout.joints]
            self.categories.append(category)

    def save_annotations(self, item: DatasetItem) -> None:
        kept = [a for a in item.annotations
                if a.type != AnnotationType.points or a.label in self._skeleton_labels]
        if len(kept) != len(item.annotations):
            item = item.wrap(annotations=kept)
        super().save_annotations(item)


class CvatCocoKeypointsExporter(CocoPersonKeypointsExporter):
    """``coco_person_keypoints`` with CVAT's categories and skeleton handling (see module doc)."""

    _TASK_CONVERTER = {**CocoPersonKeypointsExporter._TASK_CONVERTER,
                       CocoTask.person_keypoints: SkeletonKeypointsWriter}
