"""The Ultralytics YOLO family as Datumaro ``Exporter`` plugins (spec §2.4 rows 25–30).

Detection, Detection Track, Segmentation, Pose and Oriented Bounding Boxes share one layout:
``images/<subset>/<image>``, ``labels/<subset>/<id>.txt`` (written only when not empty),
``<subset>.txt`` image lists (``images/<subset>/<image>`` lines) and ``data.yaml``.
Classification writes ``<subset>/<label>/<image>`` folders and ``<subset>/labels.json``.

Class ids count top-level labels only (skeleton points are not classes); Pose counts the
skeleton labels only. Values are normalised by the image size and written with 6 decimals,
as CVAT's Datumaro fork writes them. ``data.yaml`` differs on purpose (DELTAS.md item 8): no
``path`` key and a ``val`` entry always present, so that the ``ultralytics`` package trains on
the archive as downloaded, from any working directory.

Datumaro users: ``dataset.export(dir, UltralyticsDetectionExporter, save_media=True)``, or
``register_exporters(env)`` and the names in ``EXPORTERS``; see README.md.
"""

from __future__ import annotations

import itertools
import math
import os
import os.path as osp
from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import cached_property
from itertools import cycle
from typing import Any

import yaml
from datumaro.components.annotation import (
    Annotation,
    AnnotationType,
    Bbox,
    LabelCategories,
    Points,
    PointsCategories,
    Polygon,
)
from datumaro.components.dataset_base import DEFAULT_SUBSET_NAME, DatasetItem
from datumaro.components.errors import DatasetExportError, MediaTypeError
from datumaro.components.exporter import Exporter
from datumaro.components.media import Image
from datumaro.util import dump_json_file, str_to_bool
from datumaro.util.os_util import join_within_base

YOLO_DEFAULT_SUBSET = "train"
CONFIG_FILE = "data.yaml"
NO_LABEL_FOLDER = "no_label"
CLASSIFICATION_LABELS_FILE = "labels.json"
# data.yaml keys that the ultralytics package reads itself: a subset may not take these names
RESERVED_SUBSET_NAMES = {"path", "names", "nc", "kpt_shape", "flip_idx", "download", "channels", "yaml_file"}
ABSENT_PADDING = f"0.0 0.0 {Points.Visibility.absent.value}"


def yolo_subsets(subsets: dict[str, Any]) -> dict[str, Iterable[DatasetItem]]:
    """Subsets by output name: Datumaro's unnamed ``default`` subset is written as ``train``
    (joining an existing subset of that name, case-insensitively)."""
    named: dict[str, Iterable[DatasetItem]] = {
        name: subset for name, subset in subsets.items() if name and name != DEFAULT_SUBSET_NAME
    }
    for name, subset in subsets.items():
        if name and name != DEFAULT_SUBSET_NAME:
            continue
        target = next((n for n in named if n.lower() == YOLO_DEFAULT_SUBSET), YOLO_DEFAULT_SUBSET)
        named[target] = itertools.chain(named.get(target, []), subset)
    return named


def normalised(values: Iterable[float], width: int, height: int) -> str:
    """``x y x y …`` pixel values → ``%.6f`` values relative to the image size."""
    return " ".join("%.6f" % (value / size) for value, size in zip(values, cycle((width, height))))


def yolo_box(x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> str:
    """The box between two corners as normalised ``cx cy w h``."""
    return normalised(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), width, height)


def rotated_corners(bbox: Bbox) -> list[float]:
    """The 4 corners of a box (clockwise from top-left), turned by its ``rotation`` attribute
    (degrees) about the centre, as CVAT draws rotated rectangles."""
    points = bbox.as_polygon()
    radians = math.radians(float(bbox.attributes.get("rotation", 0) or 0))
    if not radians:
        return points
    cx, cy = bbox.x + bbox.w / 2, bbox.y + bbox.h / 2
    cos, sin = math.cos(radians), math.sin(radians)
    rotated: list[float] = []
    for x, y in zip(points[::2], points[1::2], strict=True):
        rotated += [cx + cos * (x - cx) - sin * (y - cy), cy + sin * (x - cx) + cos * (y - cy)]
    return rotated


def is_rotated(annotation: Annotation) -> bool:
    return float(annotation.attributes.get("rotation", 0) or 0) % 360.0 > 0.00001


def start_export(exporter: Any) -> Iterator[tuple[str, Iterable[DatasetItem], Any]]:
    """Check the media, create the output folder (and Datumaro's meta file when asked), then
    yield each output subset with its progress bar."""
    media_type = exporter._extractor.media_type()
    if media_type and not issubclass(media_type, Image):
        raise MediaTypeError("Media type is not an image")
    os.makedirs(exporter._save_dir, exist_ok=True)
    if exporter._save_dataset_meta:
        exporter._save_meta_file(exporter._save_dir)
    subsets = yolo_subsets(exporter._extractor.subsets())
    pbars = exporter._ctx.progress_reporter.split(len(subsets))
    for (name, subset), pbar in zip(subsets.items(), pbars, strict=True):
        yield name, subset, pbar


class _UltralyticsExporter(Exporter):
    """Shared layout of the box/polygon/keypoint formats; subclasses write one label line."""

    DEFAULT_IMAGE_EXT = ".jpg"
    WRITE_TRACK_ID = False

    @classmethod
    def build_cmdline_parser(cls, **kwargs: Any) -> Any:
        parser = super().build_cmdline_parser(**kwargs)
        parser.add_argument("--write-track-id", type=str_to_bool, default=cls.WRITE_TRACK_ID,
                            help="append the 'track_id' attribute to each line (default: %(default)s)")
        return parser

    def __init__(self, extractor: Any, save_dir: str, *, write_track_id: bool | None = None,
                 **kwargs: Any) -> None:
        super().__init__(extractor, save_dir, **kwargs)
        self._write_track_id = self.WRITE_TRACK_ID if write_track_id is None else write_track_id

    @property
    def can_stream(self) -> bool:
        return True

    # -- what a subclass decides -------------------------------------------------------------
    def annotation_line(self, annotation: Annotation, width: int, height: int) -> str | None:
        """``<class> <values>`` for one annotation, or None when the format does not keep it."""
        raise NotImplementedError

    @cached_property
    def label_categories(self) -> LabelCategories:
        return self._extractor.categories().get(AnnotationType.label, LabelCategories())

    @cached_property
    def class_ids(self) -> dict[int, int]:
        """Datumaro label id → class id: top-level labels in category order."""
        top_level = [i for i, label in enumerate(self.label_categories.items) if not label.parent]
        return {label_id: index for index, label_id in enumerate(top_level)}

    def extra_config(self) -> dict[str, Any]:
        return {}

    # -- the shared layout -------------------------------------------------------------------
    def track_id_suffix(self, annotation: Annotation) -> str:
        if not self._write_track_id:
            return ""
        try:
            return f" {int(annotation.attributes.get('track_id'))}"
        except (TypeError, ValueError):
            return ""

    def _apply_impl(self) -> None:
        written: list[str] = []
        for name, subset, pbar in start_export(self):
            if name in RESERVED_SUBSET_NAMES:
                raise DatasetExportError(f"Can't export subset '{name}' in Ultralytics YOLO format: "
                                         "the name is a reserved data.yaml key")
            image_list: list[str] = []
            for item in pbar.iter(subset, desc=f"Exporting '{name}'"):
                try:
                    image_list.append(self._export_item(item, name))
                except Exception as error:  # noqa: BLE001 - Datumaro's error policy decides
                    self._ctx.error_policy.report_item_error(error, item_id=(item.id, item.subset))
            with open(osp.join(self._save_dir, f"{name}.txt"), "w", encoding="utf-8") as f:
                f.writelines(f"{line}\n" for line in image_list)
            written.append(name)
        self._write_config(written)

    def _export_item(self, item: DatasetItem, subset: str) -> str:
        if not isinstance(item.media, Image) or not item.media.has_size:
            raise DatasetExportError(f"item '{item.id}' has no image size")
        image_name = self._make_image_filename(item).replace("\\", "/")
        if self._save_media:
            self._save_image(item, osp.join(self._save_dir, "images", subset, image_name))
        height, width = item.media.size
        lines = [self.annotation_line(a, width, height) for a in item.annotations if a.label is not None]
        text = "".join(f"{line}\n" for line in lines if line)
        if text:
            path = join_within_base(self._save_dir, "labels", subset, item.id + ".txt")
            os.makedirs(osp.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return f"images/{subset}/{image_name}"

    def _write_config(self, subsets: list[str]) -> None:
        config: dict[str, Any] = {
            "names": {index: self.label_categories[label_id].name for label_id, index in self.class_ids.items()},
            **{name: f"images/{name}" for name in subsets},
            **self.extra_config(),
        }
        if subsets and "train" not in config:
            config["train"] = f"images/{subsets[0]}"
        if subsets and "val" not in config:
            validation = next((n for n in ("validation", "valid") if n in subsets), None)
            config["val"] = f"images/{validation}" if validation else config["train"]
        with open(osp.join(self._save_dir, CONFIG_FILE), "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f, allow_unicode=True)


class UltralyticsDetectionExporter(_UltralyticsExporter):
    """Axis-aligned boxes: ``<class> cx cy w h``; rotated boxes are left out."""

    def annotation_line(self, annotation: Annotation, width: int, height: int) -> str | None:
        if not isinstance(annotation, Bbox) or is_rotated(annotation):
            return None
        box = yolo_box(*annotation.points, width, height)
        return f"{self.class_ids[annotation.label]} {box}{self.track_id_suffix(annotation)}"


class UltralyticsDetectionTrackExporter(UltralyticsDetectionExporter):
    """Detection with the ``track_id`` attribute appended to the lines of tracked boxes."""

    WRITE_TRACK_ID = True


class UltralyticsOrientedBoxesExporter(_UltralyticsExporter):
    """Every box as its 4 corners (``rotation`` applied): ``<class> x1 y1 … x4 y4``."""

    def annotation_line(self, annotation: Annotation, width: int, height: int) -> str | None:
        if not isinstance(annotation, Bbox):
            return None
        corners = normalised(rotated_corners(annotation), width, height)
        return f"{self.class_ids[annotation.label]} {corners}{self.track_id_suffix(annotation)}"


class UltralyticsSegmentationExporter(_UltralyticsExporter):
    """Polygons: ``<class> x1 y1 x2 y2 …``. Convert masks (and ellipses) to polygons first,
    e.g. with Datumaro's ``masks_to_polygons`` transform, as CVAT does."""

    def annotation_line(self, annotation: Annotation, width: int, height: int) -> str | None:
        if not isinstance(annotation, Polygon):
            return None
        points = normalised(annotation.points, width, height)
        return f"{self.class_ids[annotation.label]} {points}{self.track_id_suffix(annotation)}"


class UltralyticsPoseExporter(_UltralyticsExporter):
    """Skeletons (``Points`` whose label has ``PointsCategories``):
    ``<class> cx cy w h (x y visibility)*K`` with K = the most points of any skeleton label.

    The box spans the points that are not absent. Points beyond a skeleton's own count, and
    absent points at (0, 0) (CVAT: an element the skeleton does not have), are written as
    ``0.0 0.0 0``; class ids count skeleton labels only.
    """

    @cached_property
    def point_categories(self) -> PointsCategories:
        return self._extractor.categories().get(AnnotationType.points, PointsCategories())

    @cached_property
    def class_ids(self) -> dict[int, int]:
        return {label_id: index for index, label_id in enumerate(sorted(self.point_categories.items))}

    @cached_property
    def max_points(self) -> int:
        return max((len(c.labels) for c in self.point_categories.items.values()), default=0)

    def extra_config(self) -> dict[str, Any]:
        return {"kpt_shape": [self.max_points, 3]}

    def annotation_line(self, annotation: Annotation, width: int, height: int) -> str | None:
        if not isinstance(annotation, Points) or annotation.label not in self.class_ids:
            return None
        x, y, w, h = annotation.get_bbox()
        box = yolo_box(x, y, x + w, y + h, width, height)
        values = [ABSENT_PADDING] * self.max_points
        for index, visibility in enumerate(annotation.visibility[: self.max_points]):
            x, y = annotation.points[2 * index: 2 * index + 2]
            if visibility == Points.Visibility.absent and x == 0 and y == 0:
                continue
            values[index] = f"{x / width:.6f} {y / height:.6f} {int(visibility)}"
        return f"{self.class_ids[annotation.label]} {box} {' '.join(values)}{self.track_id_suffix(annotation)}"


class UltralyticsClassificationExporter(Exporter):
    """Image tags: ``<subset>/<label>/<image>`` (an image with several tags in each of their
    folders, untagged images in ``no_label``) and ``<subset>/labels.json`` mapping each item
    id to its tag names and its (last) image path."""

    DEFAULT_IMAGE_EXT = ".jpg"

    @property
    def can_stream(self) -> bool:
        return True

    def _apply_impl(self) -> None:
        labels = self._extractor.categories().get(AnnotationType.label, LabelCategories())
        used_names: dict[str, set[str]] = defaultdict(set)
        for name, subset, pbar in start_export(self):
            subset_dir = osp.join(self._save_dir, name)
            os.makedirs(subset_dir, exist_ok=True)
            info: dict[str, dict[str, Any]] = {}
            for item in pbar.iter(subset, desc=f"Exporting '{name}'"):
                try:
                    tags = [labels[a.label].name for a in item.annotations
                            if a.type == AnnotationType.label and a.label is not None]
                    entry: dict[str, Any] = {"labels": tags}
                    for folder in tags or [NO_LABEL_FOLDER]:
                        entry["path"] = self._export_image(item, subset_dir, folder, used_names)
                    info[item.id] = entry
                except Exception as error:  # noqa: BLE001 - Datumaro's error policy decides
                    self._ctx.error_policy.report_item_error(error, item_id=(item.id, item.subset))
            dump_json_file(osp.join(subset_dir, CLASSIFICATION_LABELS_FILE), info)

    def _export_image(self, item: DatasetItem, subset_dir: str, folder: str,
                      used_names: dict[str, set[str]]) -> str:
        """Path of the item's image in ``folder`` relative to the subset (``<base>.<n>`` when the
        base name is taken there already); the image is written when media are saved."""
        if not isinstance(item.media, Image) or not (item.media.has_data or item.media.has_size):
            raise DatasetExportError(f"item '{item.id}' has no image info")
        folder_dir = join_within_base(subset_dir, folder)
        base = name = item.id.replace("\\", "/").split("/")[-1]
        index = 0
        while name in used_names[folder_dir]:
            name = f"{base}.{index}"
            index += 1
        used_names[folder_dir].add(name)
        path = self._make_image_filename(item, name=name, subdir=folder_dir)
        if self._save_media:
            os.makedirs(folder_dir, exist_ok=True)
            self._save_image(item, path)
        return osp.relpath(path, subset_dir).replace("\\", "/")


EXPORTERS: tuple[type[Exporter], ...] = (
    UltralyticsDetectionExporter,
    UltralyticsDetectionTrackExporter,
    UltralyticsSegmentationExporter,
    UltralyticsPoseExporter,
    UltralyticsOrientedBoxesExporter,
    UltralyticsClassificationExporter,
)


def register_exporters(env: Any) -> None:
    """Add the exporters to a Datumaro ``Environment`` under their plugin names
    (``ultralytics_detection``, ``ultralytics_detection_track``, ``ultralytics_segmentation``,
    ``ultralytics_pose``, ``ultralytics_oriented_boxes``, ``ultralytics_classification``)."""
    for exporter in EXPORTERS:
        env.exporters.register(exporter.NAME, exporter)
