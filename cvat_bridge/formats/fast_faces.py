"""LFW 1.0 and VGGFace2 1.0 written directly from the export view.

Each writer reproduces what its former row wrote (``translate.TaskExtractor``, the
``drop_skeletons`` tweak — skeletons are not landmarks — then Datumaro's ``lfw`` exporter, or
``label_exporters.CvatVggFace2Exporter``), without importing Datumaro:

- LFW: ``<subset>/annotations/pairs.txt`` (the pairs named by a frame's first tag's
  ``positive_pairs``/``negative_pairs`` attributes — read character by character, as Datumaro
  iterates the attribute's string — then the frames without pairs), ``landmarks.txt`` (every
  set of points) and ``people.txt`` (how many frames each label names, every label listed).
- VGGFace2: ``labels.txt``, ``bb_landmark/loose_landmark_<subset>.csv`` and
  ``loose_bb_<subset>.csv``; one box and one set of landmarks per image (DELTAS.md item 3: we
  refuse more, naming every such frame, unless ``keep_first_box`` keeps the first of each).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from cvat_bridge.archive import OutputTree
from cvat_bridge.errors import FormatError
from cvat_bridge.formats.fast_common import FrameNames, LabelTable, round_box, subset_name
from cvat_bridge.formats.fast_labels import NO_LABEL_DIR, ImageFiles, item_names, rounded, skeleton_labels
from cvat_bridge.frames import absolute_frame
from cvat_bridge.meta import ExportMeta
from cvat_bridge.view import ExportView

# --- LFW 1.0 ------------------------------------------------------------------------------------

LFW_EXT = ".jpg"  # of the images and of the names in landmarks.txt, whatever the frame's extension
LFW_PAIR = re.compile(r"([\w-]+)_([-\d]+)")  # Datumaro's LfwPath.PATTERN


class _LfwPairs:
    """The three sections of ``pairs.txt`` and the image names already listed in it."""

    def __init__(self, people: dict[str, int]) -> None:
        self.people = people
        self.positive: list[str] = []
        self.negative: list[str] = []
        self.neutral: list[str] = []
        self._included: set[str] = set()

    def include(self, name: str) -> None:
        self._included.add(name)

    def included(self, name: str) -> bool:
        return name in self._included

    def add_tagged(self, item_id: str, person: str, attributes: dict[str, Any]) -> None:
        """The pairs of a frame whose first tag names ``person`` (Datumaro's logic, step by step)."""
        number: str | int = item_id
        if item_id.startswith(person):
            number = int(item_id.replace(person, "")[1:])
        current = f"{person}/{number}"
        if "positive_pairs" in attributes:
            self.include(current)
            for pair in _characters(attributes["positive_pairs"], "positive_pairs"):
                found = LFW_PAIR.search(pair)
                other: str | int
                if found:
                    other = int(found.groups()[1])
                else:
                    other = pair.replace(person, "")[1:] if pair.startswith(person) else pair
                current = f"{person}/{other}"
                self.include(current)
                self.positive.append(f"{person}\t{number}\t{other}")
        if "negative_pairs" in attributes:
            self.include(current)
            for pair in _characters(attributes["negative_pairs"], "negative_pairs"):
                found = LFW_PAIR.search(pair)
                current = ""
                if found:
                    person2, text = found.groups()
                    other = int(text)
                    current += person2 + "/"
                else:
                    person2, other = "-", pair
                    parts = pair.split("/")
                    if len(parts) > 1 and parts[0] in self.people:
                        person2 = parts[0]
                        other = pair.replace(person2, "")[1:]
                        current += person2 + "/"
                current += str(other)
                self.include(current)
                self.negative.append(f"{person}\t{number}\t{person2}\t{other}")
        if "positive_pairs" not in attributes and "negative_pairs" not in attributes and not self.included(current):
            self.neutral.append(f"{person}/{item_id}")
            self.include(current)


def _characters(value: Any, name: str) -> str:
    if not isinstance(value, str):  # Datumaro iterates the value: only a string can be
        raise FormatError(f"LFW 1.0: the attribute '{name}' must be a text or select attribute, not '{value}'")
    return value


def export_lfw(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
               media: Any = None) -> None:
    labels = LabelTable(view.task)
    files = item_names(view, FrameNames(view, media), LFW_EXT)
    skeletons = skeleton_labels(view.task)
    subset = subset_name(view)
    people = {label.name: 0 for label in labels.labels}
    pairs = _LfwPairs(people)
    landmarks: list[str] = []
    images = ImageFiles() if save_images else None
    items = 0
    for content in view.frames():
        items += 1
        item_id, ext = files[content.frame]
        tag = content.tags[0] if content.tags else None
        if tag is not None:
            labels.label_id(tag.label)  # raises for an unknown label
            people[tag.label] += 1
        if images is not None:
            folder = f"{subset}/images/{tag.label}" if tag is not None else f"{subset}/images"
            images.add(f"{folder}/{item_id}{ext}", content.frame)
        if tag is not None:
            attributes = labels.attributes(tag.label, tag.attributes)
            try:
                pairs.add_tagged(item_id, tag.label, attributes)
            except ValueError:  # int() of a name or pair
                raise FormatError(
                    f"LFW 1.0: frame {absolute_frame(view.task, content.frame)} ({item_id}): its name or a pair "
                    f"of its tag '{tag.label}' starts with the label name but does not go on with a number") from None
        elif not pairs.included(item_id):
            pairs.neutral.append(item_id)
            pairs.include(item_id)
        for item in content.shapes:
            if item.shape.type == "points" and item.label not in skeletons:
                landmarks.append(f"{item_id}{LFW_EXT}\t" + "\t".join(map(str, rounded(item.shape.points))) + "\n")
    if not items:
        return  # an empty export: Datumaro saw no subset after the tweak and wrote nothing
    folder = f"{subset}/annotations"
    out.write_text(f"{folder}/pairs.txt", "".join(f"{line}\n" for line in (*pairs.positive, *pairs.negative,
                                                                           *pairs.neutral)))
    if landmarks:
        out.write_text(f"{folder}/landmarks.txt", "".join(landmarks))
    if people:
        out.write_text(f"{folder}/people.txt", "".join(f"{name}\t{count}\n" for name, count in people.items()))
    if images is not None:
        images.write(view, out, media)


# --- VGGFace2 1.0 -------------------------------------------------------------------------------

VGGFACE2_EXT = ".jpg"
MAX_LISTED_FRAMES = 10
LANDMARK_COLUMNS = ["NAME_ID", *(f"P{i}{axis}" for i in range(1, 6) for axis in "XY")]
BOX_COLUMNS = ["NAME_ID", "X", "Y", "W", "H"]


def several_faces_message(crowded: list[str]) -> str:
    """The error for frames with more than one box or set of landmarks (DELTAS.md item 3)."""
    listed = ", ".join(crowded[:MAX_LISTED_FRAMES])
    more = f" and {len(crowded) - MAX_LISTED_FRAMES} more" if len(crowded) > MAX_LISTED_FRAMES else ""
    return ("VGGFace2 1.0 allows one box and one set of landmarks per image, but "
            f"{len(crowded)} frame(s) have more: frames {listed}{more}. To keep the first "
            "box and landmarks of each frame, pass the option keep_first_box "
            "(Python API: export(..., options={'keep_first_box': True})).")


def _name_id(parts: list[str], label: str) -> str:
    """``<label>/<item id>``, without repeating a first folder named like the label."""
    if len(parts) > 1 and parts[0] == label:
        return "/".join([label, *parts[1:]])
    return "/".join([label, *parts])


def _csv(columns: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # Python's csv, as Datumaro's DictWriter: ``\r\n``, repr of floats
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def export_vgg_face2(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                     media: Any = None, keep_first_box: bool = False) -> None:
    labels = LabelTable(view.task)
    files = item_names(view, FrameNames(view, media), VGGFACE2_EXT)
    ids = labels.top_level_ids()
    skeletons = skeleton_labels(view.task)
    subset = subset_name(view)
    images = ImageFiles() if save_images else None
    landmark_rows: list[list[Any]] = []
    box_rows: list[list[Any]] = []
    crowded: list[str] = []
    items = 0
    for content in view.frames():
        items += 1
        item_id, ext = files[content.frame]
        parts = item_id.split("/")
        tags = [tag.label for tag in content.tags]
        for label in tags:
            if label not in ids:
                labels.label_id(label)  # raises: an unknown label
        points = []
        boxes = []
        others = []  # the other annotations, for the labels of the image folders
        for item in content.shapes:
            kind = item.shape.type
            if kind == "cuboid" or (kind in ("points", "skeleton") and item.label in skeletons):
                continue  # not exported (2D cuboids) or not landmarks (skeletons)
            if kind == "points":
                points.append(item)
            elif kind == "rectangle":
                boxes.append(item)
            others.append(item)
        if len(points) > 1 or len(boxes) > 1:
            if not keep_first_box:
                crowded.append(f"{absolute_frame(view.task, content.frame)} ({item_id})")
                continue
            dropped = {id(item) for item in points[1:] + boxes[1:]}
            others = [item for item in others if id(item) not in dropped]
            points, boxes = points[:1], boxes[:1]
        if crowded:
            continue  # the export stops anyway: only the list of frames matters now
        if images is not None:
            folders = {ids[label] if label in ids else labels.label_id(label) for label in tags}
            folders.update(ids[item.label] if item.label in ids else labels.label_id(item.label) for item in others)
            for name in (labels.labels[i].name for i in folders) if folders else (NO_LABEL_DIR,):
                if len(parts) > 1 and name == parts[0]:  # the item id's own first folder is the label's
                    images.add(f"{subset}/{item_id}{ext}", content.frame)
                else:
                    images.add(f"{subset}/{name}/{item_id}{ext}", content.frame)
        if points:
            coordinates = points[0].shape.points
            row = [_name_id(parts, points[0].label)]
            landmark_rows.append(row + rounded(coordinates) if len(coordinates) == 10 else row + [""] * 10)
        if boxes:
            x1, y1, x2, y2 = round_box(boxes[0].shape.points)
            box_rows.append([_name_id(parts, boxes[0].label), x1, y1, x2 - x1, y2 - y1])
        for _ in tags:  # every tag gives a row named after the first tag (as Datumaro writes it)
            landmark_rows.append([_name_id(parts, tags[0])] + [""] * 10)
        if not points and not boxes and not tags:
            landmark_rows.append([_name_id(parts, NO_LABEL_DIR)] + [""] * 10)
    if crowded:
        raise FormatError(several_faces_message(crowded))
    out.write_text("labels.txt", "".join(f"{label.name} {label.parent}\n" if label.parent else f"{label.name}\n"
                                         for label in labels.labels))
    if not items:
        return  # an empty export: Datumaro saw no subset after the tweak
    out.write_text(f"bb_landmark/loose_landmark_{subset}.csv", _csv(LANDMARK_COLUMNS, landmark_rows))
    if box_rows:
        out.write_text(f"bb_landmark/loose_bb_{subset}.csv", _csv(BOX_COLUMNS, box_rows))
    if images is not None:
        images.write(view, out, media)
