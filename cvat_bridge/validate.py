"""Validation of a task backup before anything is written (issue 6).

``backup.py`` runs the checks while it reads a backup:

* ``validate_task``: ZIP members (bombs, encryption), the structure of task.json (labels,
  attribute specs, data, jobs), manifest lines and frame names, job ranges against the task;
* ``check_annotations`` here (object rules in ``validate_objects``): every tag, shape and
  track of annotations.json against the labels, the attribute specs, the task's frames and
  the geometry rules of its shape type.

This module also holds the limits and the small text, path and number rules the others share.

Problems in task.json, the media or the jobs cannot be skipped: they stop the load with a
``BackupError`` naming the file and the field. A bad annotation object stops it too, with a
message naming the file, the job, the frame and the object; with ``lenient`` the object is
left out instead and listed (``Problem``) for the caller to report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cvat_bridge.errors import BackupError
from cvat_bridge.model import Annotations, Job, Label

if TYPE_CHECKING:
    from cvat_bridge.annotations_fast import FastObjects
    from cvat_bridge.annotations_json import AnnotationParser

# --- limits: far above any real task, low enough that a hostile file cannot exhaust memory
MAX_TASK_JSON_BYTES = 256 * 1024**2
MAX_MANIFEST_BYTES = 1024**3
MAX_FRAMES = 3_000_000  # > 24 h of 30 fps video
MAX_FRAME_SIDE = 1 << 16
MAX_FRAME_PIXELS = 1 << 30  # masks are drawn on a canvas of the whole frame
MAX_COORDINATE = 1e6  # pixels; a coordinate beyond this is a corrupt number, not a position
MAX_MASK_PIXELS = 1 << 28
MAX_SVG_CHARS = 1024**2

SHAPE_TYPES = ("rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton")
INPUT_TYPES = ("checkbox", "radio", "number", "text", "select")
# (minimum, maximum or None, what the type needs) of the ``points`` list per shape type
POINT_RULES: dict[str, tuple[int, int | None, str]] = {
    "rectangle": (4, 4, "4 numbers (x1, y1, x2, y2)"),
    "ellipse": (4, 4, "4 numbers (cx, cy, right x, top y)"),
    "cuboid": (16, 16, "16 numbers (8 points)"),
    "polygon": (6, None, "an even count of at least 6 numbers (3 points)"),
    "polyline": (4, None, "an even count of at least 4 numbers (2 points)"),
    "points": (2, None, "an even count of at least 2 numbers (1 point)"),
    "skeleton": (0, None, "an even count of numbers"),
    "mask": (4, None, "the RLE runs followed by the box left, top, right, bottom"),
}

# Linear-time patterns for the skeleton svg (a fragment, never given to an XML parser, so no
# entity or external reference can be expanded): ``[^<>]`` stops a tag at the next ``<``, the
# look-behind starts attribute names only at a word start.
SVG_CIRCLE = re.compile(r"<circle\b[^<>]*>", re.IGNORECASE)
SVG_LINE = re.compile(r"<line\b[^<>]*>", re.IGNORECASE)
SVG_ATTR = re.compile(r'(?<![\w-])([\w-]+)\s*=\s*"([^"]*)"')

_DRIVE_PATH = re.compile(r"^[A-Za-z]:([\\/]|$)")
_PATH_SEPARATOR = re.compile(r"[\\/]")
_BAD_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be written into an export (XML and JSON writers), or None."""
    bad = _BAD_CHARACTERS.search(text)
    return None if bad is None else f"holds the character {bad.group(0)!r}, which no export can hold"


def path_problem(name: str, *, component: bool = False) -> str | None:
    """Why ``name`` may not become part of an output path (exporters write names as paths);
    ``component``: it must be one file name, without folders."""
    if name.startswith(("/", "\\")) or _DRIVE_PATH.match(name):
        return "is an absolute path"
    parts = _PATH_SEPARATOR.split(name)
    if ".." in parts:
        return "contains '..'"
    if component and (len(parts) > 1 or name == "."):
        return "is not a single file name"
    return text_problem(name)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def short_repr(value: Any) -> str:
    """``repr`` cut to 40 characters: hostile values can be long."""
    try:
        text = repr(value)
    except RecursionError:
        return "a deeply nested value"
    return text if len(text) <= 40 else text[:37] + "..."


def quoted(value: Any) -> str:
    """A name in quotes, or the repr of a value that is not a string."""
    if isinstance(value, str) and value.isprintable():
        return f"'{value}'"
    return short_repr(value)


# --- annotations.json ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A bad object of annotations.json: where it is and what is wrong with it."""

    job: int  # 1-based, as ``cvat-bridge inspect`` lists jobs
    frame: Any  # the object's frame as stored (may itself be the problem)
    obj: str  # e.g. "shape #3 (rectangle 'car')"
    kind: str  # short reason, for the lenient summary
    detail: str

    def __str__(self) -> str:
        frame = "" if self.frame is None else f", frame {short_repr(self.frame)}"
        return f"annotations.json: job {self.job}{frame}, {self.obj}: {self.detail}"


def summarize(problems: list[Problem]) -> str:
    """``"3 objects (2 unknown label, 1 bad mask)"``: what a lenient load left out, by reason."""
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.kind] = counts.get(problem.kind, 0) + 1
    reasons = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{len(problems)} object{'s' if len(problems) != 1 else ''} ({reasons})"


FrameSize = Callable[[int], tuple[int, int]]


def check_annotations(where: str, raw_jobs: list[Any], jobs: list[Job], labels: list[Label], *, size: int,
                      frame_size: FrameSize, deleted: set[int],
                      lenient: bool = False) -> tuple[list[Any], list[Problem]]:
    """annotations.json without its bad objects, and the problems found.

    Without ``lenient`` the first problem raises ``BackupError`` (with the count of the rest).
    """
    if len(raw_jobs) > len(jobs):
        raise BackupError(f"{where}: annotations.json has {len(raw_jobs)} entries, "
                          f"but task.json lists {len(jobs)} jobs")
    checker = AnnotationsChecker(where, labels, size=size, frame_size=frame_size, deleted=deleted, lenient=lenient)
    cleaned = [checker.entry(job, entry) for job, entry in enumerate(raw_jobs, 1)]
    return cleaned, checker.finish()


class AnnotationsChecker:
    """``check_annotations`` one entry (job) at a time, so a backup can be read job by job:
    ``entry`` returns the entry without its bad objects, ``finish`` the problems (or raises)."""

    def __init__(self, where: str, labels: list[Label], *, size: int, frame_size: FrameSize, deleted: set[int],
                 lenient: bool = False) -> None:
        from cvat_bridge.validate_objects import ObjectChecker  # builds on this module

        self.where = where
        self.lenient = lenient
        self.checker = ObjectChecker(labels, size, frame_size, deleted)
        self.problems: list[Problem] = []
        self.count = 0
        self._fast: FastObjects | None = None

    def entry(self, job: int, entry: Any) -> Any:
        lists = self._object_lists(job, entry)
        kept = dict(entry)
        for key, items in lists.items():
            kept[key] = [raw for index, raw in enumerate(items, 1) if self._passes(job, key, index, raw)]
        return kept

    def objects(self, job: int, entry: Any, parser: AnnotationParser) -> Annotations:
        """The model objects of ``entry`` without its bad objects: ``entry`` and the parser in one.

        Each object takes the one-pass fast path first (``annotations_fast``); what that cannot
        vouch for takes the detailed checks, then the parser."""
        fast = self.fast_objects(parser)
        found: dict[str, list[Any]] = {"tags": [], "shapes": [], "tracks": []}
        for key, items in self._object_lists(job, entry).items():
            quick, parse = {"tags": (fast.tag, parser.tag), "shapes": (fast.shape, parser.shape),
                            "tracks": (fast.track, parser.track)}[key]
            objects = found[key]
            for index, raw in enumerate(items, 1):
                try:
                    obj = quick(raw)
                except Exception:  # noqa: BLE001 - whatever surprises the fast path, the checker words
                    obj = None
                if obj is None:
                    if not self._passes(job, key, index, raw):
                        continue
                    obj = parse(raw)
                    if key != "tags" and obj.source == "Ground truth":
                        obj.source = "manual"  # as AnnotationParser.annotations does
                objects.append(obj)
        return Annotations(tags=found["tags"], shapes=found["shapes"], tracks=found["tracks"])

    def fast_objects(self, parser: AnnotationParser) -> FastObjects:
        """The fast path of ``objects`` with ``parser`` (kept: it remembers good attribute lists)."""
        fast = self._fast
        if fast is None or fast.parser is not parser:
            from cvat_bridge.annotations_fast import FastObjects

            fast = self._fast = FastObjects(self.checker, parser)
        return fast

    def _object_lists(self, job: int, entry: Any) -> dict[str, list[Any]]:
        """The 'tags', 'shapes' and 'tracks' lists an entry has (in this order)."""
        where = self.where
        if not isinstance(entry, dict):
            raise BackupError(f"{where}: annotations.json: the entry of job {job} is {short_repr(entry)}, "
                              "not an object")
        lists = {}
        for key in ("tags", "shapes", "tracks"):
            items = entry.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                raise BackupError(f"{where}: annotations.json: job {job}: '{key}' is {short_repr(items)}, "
                                  "not a list")
            lists[key] = items
        return lists

    def _passes(self, job: int, key: str, index: int, raw: Any) -> bool:
        """Whether object #``index`` of the entry's ``key`` list passes the detailed checks;
        when not, its problem is kept (the first one only, unless lenient)."""
        from cvat_bridge.validate_objects import ObjectProblem

        checker = self.checker
        try:
            {"tags": checker.tag, "shapes": checker.shape, "tracks": checker.track}[key](raw)
        except ObjectProblem as bad:
            self.count += 1
            if self.lenient or not self.problems:
                frame = bad.frame if bad.frame is not None else frame_of(raw)
                self.problems.append(Problem(job, frame, checker.describe(key, index, raw) + bad.part,
                                             bad.kind, bad.detail))
            return False
        return True

    def finish(self) -> list[Problem]:
        problems, count = self.problems, self.count
        if problems and not self.lenient:
            more = f" (and {count - 1} more bad object{'s' if count > 2 else ''})" if count > 1 else ""
            raise BackupError(f"{self.where}: {problems[0]}{more}; --lenient skips bad objects")
        return problems


def frame_of(raw: Any) -> Any:
    return raw.get("frame") if isinstance(raw, dict) else None


def number_problem(value: Any, limit: float = MAX_COORDINATE) -> str | None:
    """Why ``value`` is not a usable coordinate, or None."""
    if not is_number(value):
        return f"{short_repr(value)}, not a number"
    if not math.isfinite(value):
        return f"{value}, not a finite number"
    if abs(value) > limit:
        return f"{value:g}, beyond any image (limit {limit:g})"
    return None
