"""Cityscapes 1.0 as CVAT writes it, on top of upstream Datumaro's ``cityscapes`` exporter.

Differences from upstream Datumaro 1.13 (CVAT's Datumaro fork behaves like this):
- with images, the originals go to ``imgsFine/leftImg8bit/<subset>/<id>_leftImg8bit<ext>``;
  upstream leaves out the ``imgsFine`` folder;
- every non-crowd mask gets its own instance id ``label * 1000 + n`` (n = the mask's position
  on the image, from 1), where upstream writes the bare label id;
- ``label_colors.txt`` always lists ``background`` (upstream drops it when the task has no
  label of that name), and the background is the first label coloured black, else the one
  named ``background``, moved to id 0 (upstream only looks at the colour and moves nothing).
"""

from __future__ import annotations

import os
import os.path as osp
from typing import Any

import numpy as np
from datumaro.components.annotation import AnnotationType, CompiledMask
from datumaro.components.dataset_base import DatasetItem
from datumaro.plugins.data_formats.cityscapes import (
    CityscapesExporter,
    CityscapesPath,
    make_cityscapes_categories,
    write_label_map,
)

from cvat_bridge.formats.masks import load_colour_label_map

IMGS_FINE_DIR = "imgsFine"
INSTANCES_PER_LABEL = 1000


class CvatCityscapesExporter(CityscapesExporter):
    """Datumaro's ``cityscapes`` exporter, with images below ``imgsFine/``, the fork's instance
    ids, background rule and full ``label_colors.txt``, as in CVAT's archives."""

    def _load_categories(self, label_map_source: Any) -> None:
        if not isinstance(label_map_source, dict):
            super()._load_categories(label_map_source)
            return
        load_colour_label_map(self, label_map_source, make_cityscapes_categories)

    def instance_id(self, mask: Any, position: int) -> int:
        label_id = self._label_id_mapping(mask.label)
        if mask.attributes.get("is_crowd", False):
            return label_id
        return label_id * INSTANCES_PER_LABEL + (mask.id or position + 1)

    def _apply_impl(self) -> None:
        os.makedirs(self._save_dir, exist_ok=True)
        for subset_name, subset in self._extractor.subsets().items():
            for item in subset:
                self._save_item(subset_name, item)
        self.save_label_map()

    def _save_item(self, subset_name: str, item: DatasetItem) -> None:
        if self._save_media:
            image_name = item.id + CityscapesPath.ORIGINAL_IMAGE + self._find_image_ext(item)
            self._save_image(item, osp.join(self._save_dir, CityscapesPath.ORIGINAL_IMAGE_DIR, subset_name,
                                            image_name))
        masks = [a for a in item.annotations if a.type == AnnotationType.mask]
        if not masks:
            return
        compiled = CompiledMask.from_instance_masks(
            masks,
            instance_ids=[self.instance_id(m, i) for i, m in enumerate(masks)],
            instance_labels=[self._label_id_mapping(m.label) for m in masks],
        )
        stem = osp.join(self._save_dir, CityscapesPath.GT_FINE_DIR, subset_name,
                        item.id + "_" + CityscapesPath.GT_FINE_DIR)
        self.save_mask(stem + CityscapesPath.COLOR_IMAGE, compiled.class_mask)
        self.save_mask(stem + CityscapesPath.LABELIDS_IMAGE, compiled.class_mask, apply_colormap=False,
                       dtype=np.uint8)
        self.save_mask(stem + CityscapesPath.INSTANCES_IMAGE, compiled.instance_mask, apply_colormap=False,
                       dtype=np.int32)

    def save_label_map(self) -> None:
        if self._save_dataset_meta:
            self._save_meta_file(self._save_dir)
        else:
            write_label_map(osp.join(self._save_dir, CityscapesPath.LABELMAP_FILE), self._label_map)

    def _save_image(self, item: Any, path: str | None = None, **kwargs: Any) -> None:
        if path is not None:
            path = osp.join(self._save_dir, IMGS_FINE_DIR, osp.relpath(path, self._save_dir))
        super()._save_image(item, path, **kwargs)
