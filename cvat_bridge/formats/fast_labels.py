"""ImageNet 1.0, Market-1501 1.0 and WIDER Face 1.0 written directly from the export view,
plus what the label/face/text writers share (fast_faces.py, fast_icdar.py).

Each writer reproduces what its former row (``translate.TaskExtractor``, the row's tweaks,
then a Datumaro exporter) wrote, without importing Datumaro (its import alone costs about
0.5 s, CVAT takes about 3.7 s for each of these formats on ``large``):

- ImageNet: without images Datumaro's ``imagenet_txt`` (``<subset>.txt``: ``<image> <label
  indices>`` — the indices in the iteration order of a Python ``set``, as Datumaro writes them —
  and ``synsets.txt``), with images ``imagenet`` (a folder per tag label, ``no_label/``, no
  annotation file), as CVAT chooses (``label_exporters.CvatImagenetExporter``).
- Market-1501: CVAT's ``LabelAttrToAttr`` (the attributes of a frame's single ``market-1501``
  tag become item attributes, ``item_tweaks.LabelAttributesToItem``) + ``market1501``: one list
  of image paths named from those attributes.
- WIDER Face: ``wider_face``: ``labels.txt`` and one list of images, each with its boxes.

Frames whose tags matter only (ImageNet, Market-1501) are read without interpolating tracks.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from cvat_bridge.archive import OutputTree
from cvat_bridge.errors import BackupError, FormatError
from cvat_bridge.formats.fast_common import FrameNames, LabelTable, subset_name
from cvat_bridge.frames import absolute_frame, frame_info
from cvat_bridge.meta import ExportMeta
from cvat_bridge.model import Tag, Task
from cvat_bridge.view import ExportView

NO_LABEL_DIR = "no_label"


class ImageFiles:
    """Where an export puts each frame's image file (``--save-images``): relative path → frame.

    A path named twice keeps its last frame, as Datumaro's exporters overwrote the file; each
    frame is read once, in frame order (video frames decode forward)."""

    def __init__(self) -> None:
        self.targets: dict[str, int] = {}

    def add(self, path: str, frame: int) -> None:
        self.targets[path] = frame

    def write(self, view: ExportView, out: OutputTree, media: Any) -> None:
        if media is None:
            from cvat_bridge.media import MediaProvider

            with MediaProvider(view.task) as own:
                self.write(view, out, own)
            return
        by_frame: dict[int, list[str]] = defaultdict(list)
        for path, frame in self.targets.items():
            by_frame[frame].append(path)
        for frame in sorted(by_frame):
            data = media.read(frame)
            for path in by_frame[frame]:
                out.write_bytes(path, data)


def item_names(view: ExportView, names: FrameNames, default_ext: str) -> dict[int, tuple[str, str]]:
    """Frame → Datumaro item id and image extension (``default_ext`` when the name has none),
    refusing frames that would be one item (``FrameNames.check_unique``)."""
    task = view.task
    result = {}
    for frame in view.selection.frames:
        name = frame_info(task, frame).name
        if names.video:
            result[frame] = (names.item_id(name), names.video_ext)
        else:  # FrameNames.item_id and .ext with one split (the extension is the base name's)
            stem, ext = posixpath.splitext(name)
            result[frame] = (stem.replace("\\", "/"), ext or default_ext)
    if len({item_id for item_id, _ in result.values()}) < len(result):
        names.check_unique(view)  # raises, naming the frames
    return result


def frame_tags(view: ExportView) -> Iterator[tuple[int, list[Tag]]]:
    """(frame, tags) of every included frame: ``ExportView.frames`` without the shapes."""
    included = view.included
    tags: dict[int, list[Tag]] = defaultdict(list)
    for tag in view.annotations.tags:
        if tag.frame in included:
            tags[tag.frame].append(tag)
    for frame in view.selection.frames:
        yield frame, tags.pop(frame, [])


def skeleton_labels(task: Task) -> frozenset[str]:
    """Labels whose points are skeletons (``item_tweaks.drop_skeletons`` leaves them out)."""
    return frozenset(label.name for label in task.labels if label.type == "skeleton")


def rounded(points: list[float]) -> list[float]:
    """``round2`` of every coordinate (``translate.with_exact_points``), in one call."""
    return [(r / 100.0 if (r := round(v * 100.0)) else 0.0 * v) for v in points]


def format_value(value: Any) -> str:
    """A typed attribute value as Datumaro's text writers format it (``"%s" % value``)."""
    return str(value)


# --- ImageNet 1.0 -------------------------------------------------------------------------------

IMAGENET_EXT = ".jpg"


def export_imagenet(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                    media: Any = None) -> None:
    labels = LabelTable(view.task)
    files = item_names(view, FrameNames(view, media), IMAGENET_EXT)
    ids = labels.top_level_ids()
    if save_images:  # ``imagenet``: a folder per label, images only
        images = ImageFiles()
        for frame, tags in frame_tags(view):
            item_id, ext = files[frame]
            parts = item_id.split(":")  # Datumaro reads "label:name" ids (``:`` is no file name character)
            file_name = (item_id if len(parts) == 1 else "_".join(parts[1:])) + ext
            tag_labels = {ids[t.label] if t.label in ids else labels.label_id(t.label) for t in tags}
            for label_id in tag_labels:
                images.add(f"{labels.labels[label_id].name}/{file_name}", frame)
            if not tag_labels:
                images.add(f"{NO_LABEL_DIR}/{file_name}", frame)
        images.write(view, out, media)
        return
    lines = []
    for frame, tags in frame_tags(view):
        item_id, ext = files[frame]
        if len(item_id.split()) > 1:
            item_id = f'"{item_id}"'
        if tags:  # the label indices in the iteration order of a set, as Datumaro writes them
            tag_labels = {ids[t.label] if t.label in ids else labels.label_id(t.label) for t in tags}
            lines.append(f"{item_id}{ext} {' '.join(str(label_id) for label_id in tag_labels)}\n")
        else:
            lines.append(f"{item_id}{ext} \n")
    out.write_text(f"{subset_name(view)}.txt", "".join(lines))
    out.write_text("synsets.txt", "".join(f"{label.name}\n" for label in labels.labels))


# --- Market-1501 1.0 ----------------------------------------------------------------------------

MARKET1501_LABEL = "market-1501"
MARKET1501_EXT = ".jpg"
MARKET1501_NAME = re.compile(r"^(-?\d+)_c(\d+)s(\d+)_(\d+)_(\d+)(.*)")  # Datumaro's Market1501Path.PATTERN
_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})


def _market_query(value: Any, where: str) -> Any:
    """The ``query`` item attribute as Datumaro reads it: strings through ``attrs``' ``to_bool``."""
    if not isinstance(value, str):
        return value
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise FormatError(f"Market-1501 1.0: {where}: the attribute 'query' is '{value}', not a boolean")


def _market_int(attributes: dict[str, Any], name: str, default: int, where: str) -> int:
    value = attributes.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise FormatError(f"Market-1501 1.0: {where}: the attribute '{name}' is '{value}', not an integer") from None


def export_market1501(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                      media: Any = None) -> None:
    labels = LabelTable(view.task)
    files = item_names(view, FrameNames(view, media), MARKET1501_EXT)
    subset = subset_name(view)
    images = ImageFiles() if save_images else None
    lines = []
    for frame, tags in frame_tags(view):
        item_id, ext = files[frame]
        market = [t for t in tags if t.label == MARKET1501_LABEL]
        if len(market) != 1:  # item attributes: only ``frame``, which names nothing
            path = f"bounding_box_{subset}/{item_id}{ext}"
            lines.append(f"{path}\n")
            if images is not None:
                images.add(path, frame)
            continue
        where = f"frame {absolute_frame(view.task, frame)} ({item_id})"
        attributes: dict[str, Any] = {"frame": absolute_frame(view.task, frame)}
        attributes.update(labels.attributes(MARKET1501_LABEL, market[0].attributes))
        folder = "bounding_box_" + subset
        if _market_query(attributes.get("query"), where):
            folder = "query"
        file_stem = item_id
        person = attributes.get("person_id")
        if person and not MARKET1501_NAME.fullmatch(item_id):
            camera = _market_int(attributes, "camera_id", 0, where) + 1
            track = _market_int(attributes, "track_id", 1, where)
            box = _market_int(attributes, "bbox_id", 0, where)
            # Datumaro's default frame id looks up the frames already used by (person, camera, track)
            # under keys of another shape, so it is always 0
            number = _market_int(attributes, "frame_id", 0, where)
            file_stem = posixpath.join(posixpath.dirname(item_id), f"{person}_c{camera}s{track}_{number:06d}_{box:02d}")
        path = posixpath.join(folder, file_stem) + ext
        if images is not None:
            images.add(path, frame)
        lines.append(f"{path}\n")
    if not lines:
        return  # an empty export: Datumaro saw no subset after the tweak and wrote nothing
    out.write_text(f"images_{subset}.txt", "".join(lines))
    if images is not None:
        images.write(view, out, media)


# --- WIDER Face 1.0 -----------------------------------------------------------------------------

WIDER_EXT = ".jpg"
WIDER_BOX_ATTRIBUTES = ("blur", "expression", "illumination", "occluded", "pose", "invalid")
WIDER_DEFAULT_LABEL = "face"


def _wider_attributes(labels: LabelTable) -> dict[str, list[tuple[str, str, str] | None]]:
    """Per label, for each WIDER box attribute: its (name, type, default) when the label defines it,
    else None. ``occluded`` always comes from the shape (``shape_attributes``)."""
    result: dict[str, list[tuple[str, str, str] | None]] = {}
    for label in labels.labels:
        specs = {a.name: (a.name, a.input_type, a.default_value) for a in label.attributes}
        result[label.name] = [specs.get(name) if name != "occluded" else None for name in WIDER_BOX_ATTRIBUTES]
    return result


def export_wider_face(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                      media: Any = None) -> None:
    labels = LabelTable(view.task)
    files = item_names(view, FrameNames(view, media), WIDER_EXT)
    ids = labels.top_level_ids()
    subset = subset_name(view)
    images = ImageFiles() if save_images else None
    label_suffix = {name: (name if name != WIDER_DEFAULT_LABEL else "") + "\n" for name in ids}
    specs = _wider_attributes(labels)
    plain = {name: not any(specs[name]) for name in ids}  # only ``occluded``: one pattern for all boxes
    occluded_index = WIDER_BOX_ATTRIBUTES.index("occluded")
    chunks: list[str] = []
    for content in view.frames():
        item_id, ext = files[content.frame]
        if content.tags:
            first = content.tags[0].label
            label_id = ids[first] if first in ids else labels.label_id(first)
            image_path = f"{label_id}--{first}/{item_id}{ext}"
        else:
            image_path = f"{NO_LABEL_DIR}/{item_id}{ext}"
        chunks.append(image_path + "\n")
        if images is not None:
            images.add(f"WIDER_{subset}/images/{image_path}", content.frame)
        boxes = [item for item in content.shapes if item.shape.type == "rectangle"]
        if boxes:
            chunks.append(f"{len(boxes)}\n")
        for item in boxes:
            p = item.shape.points
            x, y = p[0], p[1]  # ``round_box`` inlined: the hottest loop of this writer
            x1, y1, x2, y2 = [(r / 100.0 if (r := round(v * 100.0)) else 0.0 * v)
                              for v in (x, y, x + (p[2] - x), y + (p[3] - y))]
            label = item.label
            if label not in ids:
                labels.label_id(label)  # raises: an unknown label
            if plain[label]:
                attributes = f"- - - {item.shape.occluded} - - "
            else:
                attributes = _wider_values(label, specs[label], item.attributes, item.shape.occluded, occluded_index)
            chunks.append(f"{x1} {y1} {x2 - x1} {y2 - y1} {attributes}{label_suffix[label]}")
    out.write_text("labels.txt", "\n".join(label.name for label in labels.labels))
    out.write_text(f"wider_face_split/wider_face_{subset}_bbx_gt.txt", "".join(chunks))
    if images is not None:
        images.write(view, out, media)


def _wider_values(label: str, specs: list[tuple[str, str, str] | None], values: dict[str, str], occluded: bool,
                  occluded_index: int) -> str:
    """The six attribute fields of a box: typed values (``LabelTable.attributes``) or ``-``."""
    fields = []
    for index, spec in enumerate(specs):
        if index == occluded_index:
            fields.append(f"{occluded} ")
        elif spec is None:
            fields.append("- ")
        else:
            name, kind, default = spec
            raw = values.get(name, default)
            if kind == "number":
                try:
                    value: Any = float(raw)
                except ValueError:
                    raise BackupError(f"label '{label}': attribute '{name}' has value '{raw}', not a number") from None
            elif kind == "checkbox":
                value = raw.lower() == "true"
            else:
                value = raw
            fields.append(format_value(value) + " ")
    return "".join(fields)
