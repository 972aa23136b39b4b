"""Pre-export steps of CVAT's mask and segmentation formats (spec §2.4), registered in tweaks.py.

CVAT 2.15 runs, per format, a chain such as ``RotatedBoxesToPolygons`` → ``polygons_to_masks``
→ ``boxes_to_masks`` → ``merge_instance_segments`` (ellipses were already masks, which the row's
``ellipses_to_masks`` reproduces in place), and gives the exporter a colour map of the task's
labels. Each step here is one named tweak, so a row of format_map.yaml spells out the chain.

Datumaro's own transforms are used where they rasterise like CVAT's fork; the one thing to
keep in mind is coordinates: the fork keeps them as float64 rounded to 2 digits, upstream as
float32 (see ``translate.with_exact_points``), so new polygons here get exact points too.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from datumaro.components.annotation import AnnotationType, Polygon
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.transformer import ItemTransform

from cvat_bridge.formats.colormaps import (  # noqa: F401 (moved to colormaps.py; still imported from here)
    BACKGROUND,
    BLACK,
    find_background,
    move_background_first,
    task_colormap,
)
from cvat_bridge.formats.fast_icdar_seg import icdar_index, is_center, is_rgb
from cvat_bridge.formats.fast_masks import rotated_box_corners
from cvat_bridge.translate import with_exact_points

if TYPE_CHECKING:
    from cvat_bridge.formats.tweaks import TweakContext

log = logging.getLogger(__name__)


class RotatedBoxesToPolygons(ItemTransform):
    """Boxes with a non-zero ``rotation`` attribute become 4-point polygons (attributes kept).

    Like CVAT, the polygons move to the end of the item's annotations, which matters where
    equal z_orders overlap."""

    def transform_item(self, item: DatasetItem) -> DatasetItem:
        rotated = [a for a in item.annotations if a.type == AnnotationType.bbox and a.attributes.get("rotation")]
        if not rotated:
            return item
        annotations = [a for a in item.annotations if not any(a is r for r in rotated)]
        for box in rotated:
            corners = rotated_box_corners(box.points, box.attributes["rotation"])
            polygon = Polygon(corners, label=box.label, attributes=box.attributes, group=box.group,
                              z_order=box.z_order)
            annotations.append(with_exact_points(polygon, corners))
        return item.wrap(annotations=annotations)


class KeepTracks(ItemTransform):
    """Only annotations of tracks (with a ``track_id``) stay: MOTS writes tracks alone."""

    def transform_item(self, item: DatasetItem) -> DatasetItem:
        return item.wrap(annotations=[a for a in item.annotations if "track_id" in a.attributes])


def rotated_boxes_to_polygons(dataset: Any) -> Any:
    return dataset.transform(RotatedBoxesToPolygons)


def keep_tracks(dataset: Any) -> Any:
    return dataset.transform(KeepTracks)


def polygons_to_masks(dataset: Any) -> Any:
    """Datumaro's ``polygons_to_masks`` (pycocotools rasterisation, as CVAT's fork)."""
    return dataset.transform("polygons_to_masks")


def boxes_to_masks(dataset: Any) -> Any:
    """Datumaro's ``boxes_to_masks``: axis-aligned boxes become masks."""
    return dataset.transform("boxes_to_masks")


def merge_instance_segments(dataset: Any) -> Any:
    """Datumaro's ``merge_instance_segments``: the masks of one group become one mask, labelled
    as the group's largest member; ungrouped masks stay as they are. Overlaps between masks are
    then painted by the exporter in z_order (stable, so equal z_orders keep item order): the
    fork and upstream Datumaro behave alike here."""
    return dataset.transform("merge_instance_segments")


def load_colour_label_map(exporter: Any, label_map: dict[str, Any], make_categories: Callable[..., Any]) -> None:
    """Set up a KITTI/Cityscapes-style exporter from a ``{name: colour}`` map as CVAT's fork does:
    names sorted, the background moved first, colours taken back from the made categories."""
    ordered = OrderedDict(sorted(label_map.items(), key=lambda e: e[0]))
    move_background_first(ordered)
    exporter._categories = make_categories(ordered)
    for label_id, color in exporter._categories[AnnotationType.mask].colormap.items():
        ordered[exporter._categories[AnnotationType.label][label_id].name] = color
    exporter._label_map = ordered
    exporter._label_id_mapping = exporter._make_label_id_map()


def colormap_label_map(dataset: Any, context: TweakContext) -> Any:
    """``label_map={name: (r, g, b)}`` from the task's label colours (CamVid, Cityscapes, KITTI)."""
    context.options.setdefault("label_map", task_colormap(context.task))
    return dataset


def voc_colormap_label_map(dataset: Any, context: TweakContext) -> Any:
    """``label_map={name: [(r, g, b), parts, actions]}``, the VOC form (Segmentation mask)."""
    colormap = task_colormap(context.task)
    context.options.setdefault("label_map", {name: [rgb, [], []] for name, rgb in colormap.items()})
    return dataset


class FillIcdarAttributes(ItemTransform):
    """DELTAS.md item 4: ICDAR text segmentation needs ``index`` (a number), ``color``
    ("R G B") and ``center`` ("X Y") on every mask; CVAT fails without them. Missing or unusable
    values are replaced: index = the mask's position on the image, center = the rounded centre
    of the mask's box, and the colour is left to the exporter's own generated colours. One
    warning per export says so."""

    def __init__(self, extractor: Any) -> None:
        super().__init__(extractor)
        self._warned = False

    def transform_item(self, item: DatasetItem) -> DatasetItem:
        masks = [a for a in item.annotations if a.type == AnnotationType.mask]
        changed: dict[int, Any] = {}
        for position, mask in enumerate(masks):
            attributes = dict(mask.attributes)
            index = icdar_index(attributes.get("index"))
            attributes["index"] = position if index is None else index
            if "color" in attributes and not is_rgb(attributes["color"]):
                del attributes["color"]
            if not is_center(attributes.get("center")):
                x, y, w, h = mask.get_bbox()
                attributes["center"] = f"{round(x + w / 2)} {round(y + h / 2)}"
            if attributes != mask.attributes:
                changed[id(mask)] = mask.wrap(attributes=attributes)
        if not changed:
            return item
        if not self._warned:
            self._warned = True
            log.warning("ICDAR Segmentation: some masks lack usable ICDAR 'index', 'color' or 'center' "
                        "attributes (first on item '%s'); generated values are written instead "
                        "(CVAT stops with an error here)", item.id)
        return item.wrap(annotations=[changed.get(id(a), a) for a in item.annotations])


def icdar_segmentation_attributes(dataset: Any) -> Any:
    return dataset.transform(FillIcdarAttributes)


MASK_TWEAKS: dict[str, Callable[[Any], Any]] = {
    "rotated_boxes_to_polygons": rotated_boxes_to_polygons,
    "polygons_to_masks": polygons_to_masks,
    "boxes_to_masks": boxes_to_masks,
    "merge_instance_segments": merge_instance_segments,
    "keep_tracks": keep_tracks,
    "icdar_segmentation_attributes": icdar_segmentation_attributes,
}

MASK_CONTEXT_TWEAKS: dict[str, Callable[[Any, Any], Any]] = {
    "colormap_label_map": colormap_label_map,
    "voc_colormap_label_map": voc_colormap_label_map,
}
