"""Named pre-export steps shared by the rows of format_map.yaml (CVAT's transforms, spec §2.4).

Each tweak takes a Datumaro dataset (or stream of items) and returns one; they are looked up
by name from the ``tweaks:`` list of a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datumaro.components.annotation import AnnotationType, RleMask
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.transformer import ItemTransform

from cvat_bridge.formats.item_tweaks import drop_skeletons, market1501_attributes, text_to_captions
from cvat_bridge.formats.masks import MASK_CONTEXT_TWEAKS, MASK_TWEAKS

Tweak = Callable[[Any], Any]


def ellipse_to_mask(ellipse: Any, height: int, width: int) -> RleMask:
    """Rasterise an ellipse like CVAT: filled, at the rounded centre and axes, rotated by ``rotation``."""
    import cv2
    from pycocotools import mask as mask_utils

    cx, cy = (ellipse.x1 + ellipse.x2) / 2, (ellipse.y1 + ellipse.y2) / 2
    rx, ry = (ellipse.x2 - ellipse.x1) / 2, (ellipse.y2 - ellipse.y1) / 2
    canvas = np.zeros((height, width), dtype=np.uint8)
    angle = float(ellipse.attributes.get("rotation", 0.0))
    cv2.ellipse(canvas, (round(cx), round(cy)), (round(rx), round(ry)), angle, 0, 360, 255, thickness=-1)
    rle = mask_utils.encode(np.asfortranarray(canvas // 255))
    return RleMask(rle=rle, label=ellipse.label, z_order=ellipse.z_order, id=ellipse.id,
                   attributes={k: v for k, v in ellipse.attributes.items() if k != "rotation"},
                   group=ellipse.group)


class EllipsesToMasks(ItemTransform):
    def transform_item(self, item: DatasetItem) -> DatasetItem:
        if not any(a.type == AnnotationType.ellipse for a in item.annotations):
            return item
        height, width = item.media.size
        annotations = [
            ellipse_to_mask(a, height, width) if a.type == AnnotationType.ellipse else a
            for a in item.annotations
        ]
        return item.wrap(annotations=annotations)


def ellipses_to_masks(dataset: Any) -> Any:
    return dataset.transform(EllipsesToMasks)


def masks_to_polygons(dataset: Any) -> Any:
    """Datumaro's ``masks_to_polygons``: each mask becomes the polygons of its contours."""
    return dataset.transform("masks_to_polygons")


TWEAKS: dict[str, Tweak] = {
    "drop_skeletons": drop_skeletons,
    "text_to_captions": text_to_captions,
    "market1501_attributes": market1501_attributes,
    "ellipses_to_masks": ellipses_to_masks,
    "masks_to_polygons": masks_to_polygons,
}


TWEAKS.update(MASK_TWEAKS)


@dataclass
class TweakContext:
    """What a context tweak may read besides the dataset: the task, and the exporter options,
    which it may add to (e.g. a colour map made from the task's label colours)."""

    task: Any
    options: dict[str, Any] = field(default_factory=dict)


ContextTweak = Callable[[Any, TweakContext], Any]

CONTEXT_TWEAKS: dict[str, ContextTweak] = {**MASK_CONTEXT_TWEAKS}


def get_tweak(name: str) -> Tweak:
    try:
        return TWEAKS[name]
    except KeyError:
        raise KeyError(f"format_map.yaml names an unknown tweak '{name}'") from None


def run_tweak(name: str, dataset: Any, context: TweakContext) -> Any:
    """Apply the tweak ``name``: a context tweak gets the context too, any other the dataset."""
    if name in CONTEXT_TWEAKS:
        return CONTEXT_TWEAKS[name](dataset, context)
    return get_tweak(name)(dataset)
