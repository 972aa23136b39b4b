"""MOT 1.1 (``gt/gt.txt`` + ``gt/labels.txt``) written directly from the export view.

Writes what Datumaro's ``mot_seq_gt`` exporter writes for ``translate.TaskExtractor`` items
(and CVAT's fork with images: ``img1/<frame name>``), without importing Datumaro: boxes only,
one CSV row each (``\\r\\n``, values as ``str()``), track ids renumbered 1..N in order of first
appearance and -1 for plain boxes, frame id = the item id when it is a number, else the
1-based position; class id = 1 + index among all labels; confidence 0 for a true ``ignored``
attribute; visibility = a ``visibility`` attribute or 1 - occluded.

Why our own writer: on ``large`` (2,000 frames, 4,445 boxes + 100 box tracks) the whole
``cvat-bridge export`` with the Datumaro exporter took 5.36 s (median of 3, busy 2-core
machine) against CVAT's 3.58 s; importing Datumaro alone costs about 0.5 s of a 0.36 s budget.
"""

from __future__ import annotations

from typing import Any

from cvat_bridge.archive import OutputTree
from cvat_bridge.formats.fast_common import FrameNames, LabelTable, round_box, save_frames
from cvat_bridge.meta import ExportMeta
from cvat_bridge.view import ExportView, FrameShape

BOX_TYPES = frozenset({"rectangle"})  # the only shapes written: the view makes no others
# attributes that change a row when a label defines them (Datumaro reads them by name)
_ROW_ATTRIBUTES = frozenset({"track_id", "ignored", "visibility"})


def export_mot(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
               media: Any = None) -> None:
    labels = LabelTable(view.task)
    names = FrameNames(view, media)
    names.check_unique(view)
    class_ids = {name: index + 1 for name, index in labels.top_level_ids().items()}
    special = {name for name in class_ids
               if _ROW_ATTRIBUTES & {a.name for a in labels.labels[class_ids[name] - 1].attributes}}
    track_ids: dict[int, int] = {-1: -1}
    with out.open_text("gt/gt.txt") as gt:
        for position, content in enumerate(view.frames(shape_types=BOX_TYPES)):
            try:
                frame_id = int(names.item_id(content.info.name))
            except ValueError:
                frame_id = position + 1
            rows = []
            for item in content.shapes:
                shape = item.shape
                if shape.type != "rectangle":
                    continue
                label = item.label
                class_id = class_ids.get(label) or 1 + labels.label_id(label)  # (raises for unknown labels)
                if label in special:
                    track, confidence, visibility = _row_attributes(labels, item)
                else:
                    track = -1 if item.track_id is None else item.track_id
                    confidence, visibility = 1, 0.0 if shape.occluded else 1.0  # 1 - float(occluded)
                if track not in track_ids:
                    track_ids[track] = len(track_ids)
                x1, y1, x2, y2 = round_box(shape.points)
                rows.append(f"{frame_id},{track_ids[track]},{x1},{y1},{x2 - x1},{y2 - y1},{confidence},"
                            f"{class_id},{visibility}\r\n")
            gt.write("".join(rows))
    out.write_text("gt/labels.txt", "\n".join(label.name for label in labels.labels))
    if save_images:
        save_frames(view, out.folder / "img1", media)


def _row_attributes(labels: LabelTable, item: FrameShape) -> tuple[int, int, float]:
    """Track id, confidence and visibility when the label defines attributes Datumaro reads."""
    attributes = labels.attributes(item.label, item.attributes)
    attributes["occluded"] = item.shape.occluded
    if item.track_id is not None:
        attributes["track_id"] = item.track_id
    track = int(attributes.get("track_id", -1))
    confidence = int(attributes.get("ignored") is not True)
    visibility = float(attributes.get("visibility", 1 - float(item.shape.occluded)))
    return track, confidence, visibility
