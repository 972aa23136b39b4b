"""PASCAL VOC as CVAT writes it, on top of upstream Datumaro's VOC exporter.

Two differences from upstream Datumaro 1.13 (CVAT's Datumaro fork behaves like this):
- ``label_map="source"`` gives every label a colour from the VOC colour map, by its index
  after ``background`` (upstream leaves source labels without colours);
- every item gets an ``Annotations/<id>.xml``, also when it has no boxes (upstream writes
  the file only from inside its per-box loop).
"""

from __future__ import annotations

import os
import os.path as osp
from collections import OrderedDict
from typing import Any

from datumaro.components.annotation import AnnotationType, LabelCategories
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.media import ImageFromNumpy
from datumaro.plugins.data_formats.voc.exporter import VocExporter
from datumaro.plugins.data_formats.voc.format import VocTask, generate_colormap, make_voc_categories
from lxml import etree as ET

DETECTION_TASKS = {VocTask.voc, VocTask.voc_detection, VocTask.voc_instance_segmentation,
                   VocTask.voc_layout, VocTask.voc_action}


class CvatVocExporter(VocExporter):
    """Datumaro's ``voc`` exporter with CVAT's label colours and an annotation file per item."""

    def _load_categories(self, label_map_source: Any) -> None:
        if label_map_source != "source":
            super()._load_categories(label_map_source)
            return
        labels = self._extractor.categories().get(AnnotationType.label, LabelCategories())
        names = [item.name for item in labels.items]
        if "background" not in names:
            names.insert(0, "background")
        colors = generate_colormap(len(names))
        label_map: OrderedDict[str, list[Any]] = OrderedDict(
            (name, [colors[index], [], []]) for index, name in enumerate(names)
        )
        label_map.move_to_end("background", last=False)
        self._categories = make_voc_categories(label_map, task=self._task)
        self._label_map = label_map
        self._label_id_mapping = self._make_label_id_map()

    def _export_annotations(self, item: DatasetItem, *, image_filename: str, lists: Any) -> None:
        if item.media is not None and item.media.has_data and item.media.has_size:
            # CVAT's fork always leaves <depth> empty; upstream fills it when pixels are at hand
            item = item.wrap(media=ImageFromNumpy(data=None, size=item.media.size))
        super()._export_annotations(item, image_filename=image_filename, lists=lists)
        if self._task not in DETECTION_TASKS:
            return
        path = osp.join(self._ann_dir, item.id + ".xml")
        if osp.exists(path):
            return
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(ET.tostring(self._empty_annotation(item, image_filename), encoding="unicode", pretty_print=True))

    def _empty_annotation(self, item: DatasetItem, image_filename: str) -> Any:
        root = ET.Element("annotation")
        ET.SubElement(root, "folder").text = item.id[: item.id.find("_")] if "_" in item.id else ""
        ET.SubElement(root, "filename").text = image_filename
        source = ET.SubElement(root, "source")
        for key in ("database", "annotation", "image"):
            ET.SubElement(source, key).text = "Unknown"
        if item.media and item.media.has_size:
            height, width = item.media.size
            size = ET.SubElement(root, "size")
            ET.SubElement(size, "width").text = str(width)
            ET.SubElement(size, "height").text = str(height)
            ET.SubElement(size, "depth").text = str(item.media.data.shape[-1]) if item.media.has_data else ""
        has_masks = any(a.type == AnnotationType.mask for a in item.annotations)
        ET.SubElement(root, "segmented").text = str(int(has_masks))
        return root
