"""LabelMe, MOTS PNG, KITTI and Segmentation mask as CVAT 2.15 writes them, on top of upstream
Datumaro 1.13 (Cityscapes: cityscapes.py).

Where CVAT's Datumaro fork writes these formats differently from upstream 1.13 (spec §5):

- LabelMe: the fork writes ``<subset>/<image stem>.xml`` with masks in ``<subset>/Masks/`` and
  images beside the XML, ``<filename>`` as the image's base name and ``<folder>`` as its
  directory; upstream uses ``Annotations/<subset>/``, ``Masks/<subset>/``, ``Images/<subset>/``,
  the whole relative name and the subset name; and a mask's box ends at its last pixel, not
  one past it.
- MOTS PNG: upstream multiplies a uint8 mask by the instance value (≥ 1000), which numpy 2
  refuses; the fork ran under numpy 1, where the product widened.
- KITTI and Segmentation mask, when a label sorts before ``background`` (``Car``, ``airplane``):
  the fork paints uncovered pixels as the background (KITTI: the background moves to id 0, as in
  Cityscapes; VOC: it keeps its sorted place in labelmap.txt and the class mask's empty pixels
  get its id), where upstream paints them as whichever label sorts first.
"""

from __future__ import annotations

import os
import os.path as osp
import shutil
from collections import OrderedDict
from typing import Any

import numpy as np
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetItem
from datumaro.plugins.data_formats.kitti.exporter import KittiExporter
from datumaro.plugins.data_formats.kitti.format import make_kitti_categories
from datumaro.plugins.data_formats.labelme import LabelMeExporter, LabelMePath
from datumaro.plugins.data_formats.mots import MotsPath, MotsPngExporter
from datumaro.plugins.data_formats.voc.exporter import VocSegmentationExporter
from datumaro.plugins.data_formats.voc.format import VocPath, make_voc_categories
from datumaro.plugins.data_formats.voc.format import write_label_map as write_voc_label_map
from datumaro.util.image import save_image
from datumaro.util.mask_tools import merge_masks
from lxml import etree as ET

from cvat_bridge.formats.masks import BACKGROUND, BLACK, find_background, load_colour_label_map


class CvatLabelMeExporter(LabelMeExporter):
    """``label_me`` in the fork's layout: upstream writes the files, then they move into place."""

    def _apply_impl(self) -> None:
        super()._apply_impl()
        for subset_name in self._extractor.subsets():
            self._relocate(subset_name)

    def _relocate(self, subset_name: str) -> None:
        subset_dir = osp.join(self._save_dir, subset_name)
        annotations = osp.join(self._save_dir, LabelMePath.ANNOTATIONS_DIR, subset_name)
        for root, _, files in os.walk(annotations):
            for name in files:
                source = osp.join(root, name)
                target = osp.join(subset_dir, osp.relpath(source, annotations))
                os.makedirs(osp.dirname(target), exist_ok=True)
                write_fork_xml(source, target)
                os.remove(source)
        move_tree(osp.join(self._save_dir, LabelMePath.MASKS_DIR, subset_name),
                  osp.join(subset_dir, LabelMePath.MASKS_DIR))
        move_tree(osp.join(self._save_dir, LabelMePath.IMAGES_DIR, subset_name), subset_dir)
        for top in (LabelMePath.ANNOTATIONS_DIR, LabelMePath.MASKS_DIR, LabelMePath.IMAGES_DIR):
            remove_empty_dirs(osp.join(self._save_dir, top))


def write_fork_xml(source: str, target: str) -> None:
    """Copy a LabelMe XML as the fork writes it: ``<filename>`` = the image's base name,
    ``<folder>`` = its directory (upstream: the relative name and the subset), and a mask's
    ``xmax``/``ymax`` = its last column/row (upstream: one past it)."""
    root = ET.parse(source, ET.XMLParser(remove_blank_text=True, resolve_entities=False)).getroot()
    filename = root.find("filename")
    image_name = (filename.text or "") if filename is not None else ""
    if filename is not None:
        filename.text = osp.basename(image_name)
    folder = root.find("folder")
    if folder is not None:
        folder.text = osp.dirname(image_name)
    for edge in root.iterfind("object/segm/box/xmax"):
        edge.text = "%.2f" % (float(edge.text or 0) - 1)
    for edge in root.iterfind("object/segm/box/ymax"):
        edge.text = "%.2f" % (float(edge.text or 0) - 1)
    with open(target, "w", encoding="utf-8") as f:
        f.write(ET.tostring(root, encoding="unicode", pretty_print=True))


def move_tree(source: str, target: str) -> None:
    """Move every file under ``source`` to the same relative place under ``target``."""
    for root, _, files in os.walk(source):
        for name in files:
            path = osp.join(root, name)
            destination = osp.join(target, osp.relpath(path, source))
            os.makedirs(osp.dirname(destination), exist_ok=True)
            shutil.move(path, destination)


def remove_empty_dirs(top: str) -> None:
    for root, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
        if not os.listdir(root):
            os.rmdir(root)


class CvatMotsPngExporter(MotsPngExporter):
    """``mots_png`` whose instance values (label and track id) do not overflow the uint8 masks."""

    def _save_annotations(self, item: DatasetItem, anno_dir: str) -> None:
        masks = [a for a in item.annotations if a.type == AnnotationType.mask]
        if not masks:
            return
        ordered = sorted(masks, key=lambda m: m.z_order)
        merged = merge_masks(
            (m.image.astype(np.uint32), MotsPath.MAX_INSTANCES * (1 + m.label) + int(m.attributes["track_id"]))
            for m in ordered
        )
        save_image(osp.join(anno_dir, item.id + ".png"), merged, create_dir=True, dtype=np.uint16)


class CvatKittiExporter(KittiExporter):
    """``kitti`` with the fork's background rule for a ``{name: color}`` label map."""

    def _load_categories(self, label_map_source: Any) -> None:
        if not isinstance(label_map_source, dict):
            super()._load_categories(label_map_source)
            return
        load_colour_label_map(self, label_map_source, make_kitti_categories)


class CvatVocSegmentationExporter(VocSegmentationExporter):
    """``voc_segmentation`` with the fork's background for a ``{name: [color, parts, actions]}`` map.

    labelmap.txt keeps the fork's order (sorted; the background stays in its place, a new one
    goes first). The masks are compiled with the background moved to id 0, which paints the
    same colours as the fork's "uncovered pixels get the background's id" (CVAT always
    applies the colour map)."""

    def _load_categories(self, label_map_source: Any) -> None:
        if not isinstance(label_map_source, dict):
            super()._load_categories(label_map_source)
            return
        written = OrderedDict(sorted(label_map_source.items(), key=lambda e: e[0]))
        background = find_background(written, color_of=lambda desc: desc[0])
        if background is None:
            background = BACKGROUND
            has_colors = any(desc[0] is not None for desc in written.values())
            written[background] = [BLACK if has_colors else None, [], []]
            written.move_to_end(background, last=False)
        label_map = OrderedDict(written)
        label_map.move_to_end(background, last=False)
        self._categories = make_voc_categories(label_map, task=self._task)
        self._label_map = label_map
        self._written_label_map = written
        self._label_id_mapping = self._make_label_id_map()

    def save_label_map(self) -> None:
        if self._save_dataset_meta or not hasattr(self, "_written_label_map"):
            super().save_label_map()
            return
        write_voc_label_map(osp.join(self._save_dir, VocPath.LABELMAP_FILE), self._written_label_map)

