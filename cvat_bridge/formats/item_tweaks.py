"""Per-item pre-export steps for the label- and face-oriented formats (CVAT's transforms, spec §2.4).

Registered by name in tweaks.py:
- ``drop_skeletons``: CVAT's Datumaro fork has a skeleton type that only the skeleton-aware
  formats read; everywhere else skeletons are ignored. Here skeletons are ``Points`` of a label
  with ``PointsCategories`` (translate.py), so formats that read ``Points`` as landmarks
  (LFW, VGGFace2) must not see them.
- ``text_to_captions``: CVAT's ``LabelToCaption`` for ICDAR Recognition: every annotation with
  a ``text`` attribute becomes a caption of that text.
- ``market1501_attributes``: CVAT's ``LabelAttrToAttr(label="market-1501")``: the attributes
  of the one tag labelled ``market-1501`` on a frame become item attributes (query, person_id,
  camera_id, ...), which Market-1501's exporter uses to name the files.
"""

from __future__ import annotations

from typing import Any

from datumaro.components.annotation import AnnotationType, Caption
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.transformer import ItemTransform

MARKET1501_LABEL = "market-1501"


def skeleton_label_ids(categories: dict[AnnotationType, Any]) -> set[int]:
    """Labels whose ``Points`` are skeletons: the ones with a points layout."""
    points = categories.get(AnnotationType.points)
    return set(points.items) if points is not None else set()


class DropSkeletons(ItemTransform):
    def __init__(self, extractor: Any) -> None:
        super().__init__(extractor)
        self._skeletons = skeleton_label_ids(extractor.categories())

    def transform_item(self, item: DatasetItem) -> DatasetItem:
        kept = [a for a in item.annotations
                if not (a.type == AnnotationType.points and a.label in self._skeletons)]
        if len(kept) == len(item.annotations):
            return item
        return item.wrap(annotations=kept)


class TextToCaptions(ItemTransform):
    def transform_item(self, item: DatasetItem) -> DatasetItem:
        texts = [a for a in item.annotations if "text" in a.attributes]
        if not texts:
            return item
        kept = [a for a in item.annotations if "text" not in a.attributes]
        return item.wrap(annotations=kept + [Caption(a.attributes["text"]) for a in texts])


class LabelAttributesToItem(ItemTransform):
    """Move the attributes of a frame's single tag of ``label`` to the item."""

    def __init__(self, extractor: Any, label: str = MARKET1501_LABEL) -> None:
        super().__init__(extractor)
        label_id, _ = extractor.categories()[AnnotationType.label].find(label)
        self._label = label_id

    def transform_item(self, item: DatasetItem) -> DatasetItem:
        if self._label is None:
            return item
        tags = [a for a in item.annotations if a.type == AnnotationType.label and a.label == self._label]
        if len(tags) != 1:
            return item
        attributes = {**item.attributes, **tags[0].attributes}
        annotations = [a for a in item.annotations if a is not tags[0]]
        return item.wrap(annotations=annotations, attributes=attributes)


def drop_skeletons(dataset: Any) -> Any:
    return dataset.transform(DropSkeletons)


def text_to_captions(dataset: Any) -> Any:
    return dataset.transform(TextToCaptions)


def market1501_attributes(dataset: Any) -> Any:
    return dataset.transform(LabelAttributesToItem)
