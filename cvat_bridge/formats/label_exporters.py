"""Small Datumaro Exporter plugins for VGGFace2 1.0 and ImageNet 1.0 as CVAT writes them
(for Datumaro users; cvat-bridge's own rows use the writers of fast_faces.py / fast_labels.py).

- VGGFace2 holds at most one box and one set of landmarks per image. CVAT (and upstream
  Datumaro) fail in the middle of the export on the first frame with more; we check every frame
  first and stop with one error that names them all (DELTAS.md item 3), unless the option
  ``keep_first_box`` keeps the first box and first landmarks of each frame.
- ImageNet: CVAT exports ``imagenet_txt`` (a list of image names with label indices) without
  images, and Datumaro's folder-per-label ``imagenet`` layout with images.
"""

from __future__ import annotations

from typing import Any

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.exporter import Exporter
from datumaro.components.transformer import ItemTransform
from datumaro.plugins.data_formats.imagenet import ImagenetExporter
from datumaro.plugins.data_formats.imagenet_txt import ImagenetTxtExporter
from datumaro.plugins.data_formats.vgg_face2 import VggFace2Exporter

from cvat_bridge.errors import FormatError
from cvat_bridge.formats.fast_faces import several_faces_message

SINGLE_FACE_TYPES = (AnnotationType.bbox, AnnotationType.points)


class KeepFirstFace(ItemTransform):
    """Keep the first box and the first landmarks of every item, drop the others."""

    def transform_item(self, item: DatasetItem) -> DatasetItem:
        seen: set[AnnotationType] = set()
        kept = []
        for ann in item.annotations:
            if ann.type in SINGLE_FACE_TYPES:
                if ann.type in seen:
                    continue
                seen.add(ann.type)
            kept.append(ann)
        if len(kept) == len(item.annotations):
            return item
        return item.wrap(annotations=kept)


def frames_with_several_faces(items: Any) -> list[str]:
    """``frame N (item id)`` for every item with more than one box or set of landmarks."""
    found = []
    for item in items:
        counts = [sum(1 for a in item.annotations if a.type == t) for t in SINGLE_FACE_TYPES]
        if max(counts, default=0) > 1:
            frame = item.attributes.get("frame")
            found.append(f"{frame} ({item.id})" if frame is not None else item.id)
    return found


class CvatVggFace2Exporter(VggFace2Exporter):
    """``vgg_face2`` that refuses several faces per frame up front, or keeps the first one."""

    def __init__(self, extractor: Any, save_dir: str, *, keep_first_box: bool = False, **kwargs: Any) -> None:
        super().__init__(extractor, save_dir, **kwargs)
        self._keep_first_box = keep_first_box

    def _apply_impl(self) -> None:
        if self._keep_first_box:
            self._extractor = KeepFirstFace(self._extractor)
        else:
            crowded = frames_with_several_faces(self._extractor)
            if crowded:
                raise FormatError(several_faces_message(crowded))
        super()._apply_impl()


class CvatImagenetExporter(Exporter):
    """``imagenet_txt`` without images, ``imagenet`` (a folder per label) with images."""

    DEFAULT_IMAGE_EXT = ".jpg"

    def _apply_impl(self) -> None:
        chosen = ImagenetExporter if self._save_media else ImagenetTxtExporter
        exporter = chosen(self._extractor, self._save_dir, save_media=self._save_media,
                          image_ext=self._image_ext, ctx=self._ctx)
        exporter._apply_impl()

