"""Datumaro 1.0 as CVAT 2.15 wrote it, on top of upstream Datumaro's ``datumaro`` exporter.

CVAT's Datumaro fork wrote the older ("legacy") layout of the format, which upstream 1.13 still
reads. Differences from upstream 1.13's writer:
- top-level ``info: {}`` instead of ``dm_format_version`` / ``media_type`` / ``infos``;
- label categories without ``label_groups``, every label with ``attributes: []`` (CVAT lists
  attribute names only globally), points categories without ``positions`` and always present
  (empty when the task has no skeletons);
- without images each item carries ``point_cloud: {"path": ""}``: CVAT 2.15 replaced the media
  by an empty point cloud to drop the image path (its ``DeleteImagePath``); with images the item
  has ``image: {path, size}`` and the file is saved under ``images/<subset>/``.
Skeletons arrive as ``Points`` of the skeleton label (see translate.py), which this layout and
upstream's importer both understand; 2D cuboids are written as upstream writes ``cuboid_2d``.
"""

from __future__ import annotations

import os
import os.path as osp
from typing import Any

from datumaro.components.annotation import AnnotationType, LabelCategories, PointsCategories
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.media import Image
from datumaro.plugins.data_formats.datumaro.exporter import DatumaroExporter, JsonWriter, _SubsetWriter
from datumaro.util import cast, dump_json_file


class LegacySubsetWriter(_SubsetWriter):
    """One ``annotations/<subset>.json`` in the layout of CVAT's Datumaro fork."""

    def __init__(self, context: Any, subset: str, ann_file: str, export_context: Any) -> None:
        super().__init__(context, subset, ann_file, export_context)
        self._data = {"info": {}, "categories": {}, "items": []}

    def add_infos(self, infos: dict[str, Any]) -> None:
        """The legacy layout has no ``infos``; CVAT writes an empty ``info``."""

    def add_categories(self, categories: dict[AnnotationType, Any]) -> None:
        converted: dict[str, Any] = {}
        labels = categories.get(AnnotationType.label)
        if isinstance(labels, LabelCategories):
            converted["label"] = {
                "labels": [
                    {"name": cast(label.name, str), "parent": cast(label.parent, str), "attributes": []}
                    for label in labels.items
                ],
                "attributes": sorted(labels.attributes),
            }
        for ann_type, desc in categories.items():
            if ann_type == AnnotationType.mask:
                converted["mask"] = JsonWriter._convert_mask_categories(desc)
        points = categories.get(AnnotationType.points) or PointsCategories()
        converted["points"] = {
            "items": [
                {
                    "label_id": int(label_id),
                    "labels": [cast(name, str) for name in item.labels],
                    "joints": [list(map(int, joint)) for joint in item.joints],
                }
                for label_id, item in points.items.items()
            ]
        }
        self._data["categories"] = converted

    def _gen_item_desc(self, item: DatasetItem, *args: Any, **kwargs: Any) -> dict[str, Any]:
        bare = item.wrap(media=None)
        desc = super()._gen_item_desc(bare)
        media = item.media
        if self.export_context.save_media and isinstance(media, Image):
            path = self.export_context.make_image_filename(item)
            self.export_context.save_image(item, fname=path, subdir=item.subset or None)
            desc["image"] = {"path": path}
            if media.has_size:
                desc["image"]["size"] = list(media.size)
        else:
            desc["point_cloud"] = {"path": ""}
        return desc

    def write(self, *args: Any, **kwargs: Any) -> None:
        dump_json_file(self.ann_file, self._data)


class CvatDatumaroExporter(DatumaroExporter):
    """Upstream's ``datumaro`` exporter writing the legacy layout of CVAT 2.15 (see module doc)."""

    def create_writer(self, subset: str, images_dir: str, pcd_dir: str, video_dir: str) -> Any:
        writer = super().create_writer(subset, images_dir, pcd_dir, video_dir)
        return LegacySubsetWriter(self, subset, writer.ann_file, writer.export_context)

    def _apply_impl(self, *args: Any, **kwargs: Any) -> None:
        self._stream = False  # the legacy writer keeps items in memory, like CVAT's
        super()._apply_impl(*args, **kwargs)
        images_dir = osp.join(self._save_dir, self.PATH_CLS.IMAGES_DIR)
        if osp.isdir(images_dir) and not self._save_media:
            _remove_empty_tree(images_dir)

    @property
    def can_stream(self) -> bool:
        return False


def _remove_empty_tree(path: str) -> None:
    for root, _dirs, _files in os.walk(path, topdown=False):  # leaves first
        if not os.listdir(root):
            os.rmdir(root)
