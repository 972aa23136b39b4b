"""The fast paths of a load decide as the detailed checks do (issue 7).

``annotations_fast.FastObjects`` (object by object, on orjson's values) and
``annotations_typed.TypedEntries`` (whole entries, decoded by msgspec) may only accept what
``validate_objects.ObjectChecker`` accepts, and must then make the very model objects
``AnnotationParser`` makes; what they do not vouch for goes to the checker, which words the
problem. Hypothesis mutates the objects of the sample backup (plus a skeleton track and old-style
objects) the way tests/test_bad_input.py mutates whole backups, and compares.
"""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvat_bridge import backup
from cvat_bridge.annotations_fast import FastObjects
from cvat_bridge.annotations_json import AnnotationParser
from cvat_bridge.backup import BackupSource, _parse_label, _suffix, load_task
from cvat_bridge.errors import BackupError
from cvat_bridge.validate import AnnotationsChecker
from cvat_bridge.validate_objects import ObjectChecker, ObjectProblem
from tests.builders import frames, json_paths, task_json, write_backup
from tests.corpus import sample_json

typed = pytest.importorskip("cvat_bridge.annotations_typed", reason="msgspec is not installed")

SIZE = 8
TASK, ANNOTATIONS = sample_json()
LABELS = [_parse_label(raw) for raw in TASK["labels"]]
SKELETON_TRACK = {"frame": 1, "label": "fish", "group": 0, "source": "manual", "attributes": [], "shapes": [
    {"type": "skeleton", "frame": 1, "points": [], "occluded": False, "outside": False, "attributes": []}],
    "elements": [{"frame": 1, "label": "nose", "group": 0, "source": "manual", "attributes": [], "shapes": [
        {"type": "points", "frame": 1, "points": [3.0, 4.0], "occluded": False, "outside": False}]}]}
OLD_STYLE_SHAPE = {"type": "rectangle", "occluded": False, "z_order": 0, "points": [0, 0, 2, 2], "frame": 0,
                   "group": None, "source": "Ground truth", "attributes": [{"name": "speed", "value": "5"}],
                   "label": "car"}
BASE = {"tags": [t for e in ANNOTATIONS for t in e["tags"]],
        "shapes": [s for e in ANNOTATIONS for s in e["shapes"]] + [OLD_STYLE_SHAPE],
        "tracks": [t for e in ANNOTATIONS for t in e["tracks"]] + [SKELETON_TRACK]}
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4), st.just([]), st.just({}), st.lists(st.floats(-5, 70), max_size=9),
    st.lists(st.integers(-5, 70), max_size=9), st.just({"name": "speed", "value": 5}),
)
_NUMBERS = [0, 1, -1, 0.0, -0.0, 2.5, True, None, "1", 2**63, 2**64, 1e300, float("nan"), float("inf")]
# values close to good ones for each field: where the fast paths could slip
NEAR = {
    "label": ["car", "person", "fish", "nose", "tail", "", "ghost", None, 1],
    "type": ["rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton", "box", None],
    "frame": [-1, 0, 1, SIZE - 1, SIZE, True, 1.0, 2**63, None, "1"],
    "z_order": _NUMBERS, "group": _NUMBERS, "rotation": _NUMBERS, "score": _NUMBERS,
    "source": ["manual", "Ground truth", "", None, 5, "auto", "file"],
    "occluded": [True, False, 1, 0, "true", "0", None, [], 2.0], "outside": [True, False, 1, "false", None],
    "name": ["model", "parked", "speed", "plate", "color", "x", "", None, 5],
    "value": ["bmw", "mazda", "true", "false", "True", "5", "0", "x", "", 5, 5.0, True, None, float("nan"), []],
    "elements": [[], None, 0, "", {}, [{}]],
    "shapes": [[], None, {}],
    "attributes": [[], None, {}, "", [{"name": "model", "value": "bmw"}], [{"name": "parked", "value": True}],
                   [{"name": "speed", "value": 5}], [{"name": "plate"}], [{"value": "x"}], ["model"]],
}
POINT_VALUES = st.sampled_from([0.0, 1.0, 2.0, 3.0, 10.0, 20.0, 33.0, 47.0, 63.0, 64.0, 1e6, 1e6 + 1, -1e6, -0.0,
                                2.0**53, 6.5, -1.0, 2, True, None, float("nan"), float("inf")])


def _value(key: Any) -> st.SearchStrategy[Any]:
    """A value to put at ``key``: one close to a good one for that field, or anything."""
    if key == "points" or isinstance(key, int):
        near = st.lists(POINT_VALUES, max_size=17) if key == "points" else POINT_VALUES
    else:
        near = st.sampled_from(NEAR.get(key, [None]))
    return st.one_of(near, near, HOSTILE)


def _frame_size(frame: int) -> tuple[int, int]:
    return 64, 48


@st.composite
def mutated_objects(draw: st.DrawFn) -> tuple[str, Any]:
    """(key, object): an object of the base entry with up to three fields replaced, deleted or added."""
    key = draw(st.sampled_from(["tags", "shapes", "shapes", "tracks"]))
    obj = copy.deepcopy(draw(st.sampled_from(BASE[key])))
    for _ in range(draw(st.integers(0, 3))):
        paths = json_paths(obj)
        fields = [path for path in paths if len(path) == 1]  # most checks are of the object's own fields
        path = draw(st.sampled_from(fields) if fields and draw(st.booleans()) else st.sampled_from(paths))
        value = copy.deepcopy(draw(_value(path[-1] if path else None)))  # st.just gives one shared object
        if not path:
            obj = value
            continue
        parent = obj
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "duplicate"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
        elif action == "add" and isinstance(parent, dict):
            added = draw(st.sampled_from(["score", "elements", "label", "id", "group", "value"]))
            parent[added] = copy.deepcopy(draw(_value(added)))
        else:
            parent[path[-1]] = value
        if not isinstance(obj, (dict, list)):
            break
    return key, obj


def _detailed(key: str, raw: Any) -> Any:
    """What the detailed path makes of ``raw``: its model object, or "bad"."""
    checker = ObjectChecker(LABELS, SIZE, _frame_size, set())
    try:
        {"tags": checker.tag, "shapes": checker.shape, "tracks": checker.track}[key](raw)
    except ObjectProblem:
        return "bad"
    parser = AnnotationParser()
    obj = {"tags": parser.tag, "shapes": parser.shape, "tracks": parser.track}[key](raw)
    if key != "tags" and obj.source == "Ground truth":
        obj.source = "manual"
    return obj


def _fast(key: str, raw: Any) -> Any:
    fast = FastObjects(ObjectChecker(LABELS, SIZE, _frame_size, set()), AnnotationParser())
    try:
        return {"tags": fast.tag, "shapes": fast.shape, "tracks": fast.track}[key](raw)
    except Exception:  # noqa: BLE001 - as AnnotationsChecker.objects: the detailed path decides
        return None


def _typed(entry: Any) -> Any:
    checker = AnnotationsChecker("b.zip", LABELS, size=SIZE, frame_size=_frame_size, deleted=set(), lenient=True)
    reader = typed.TypedEntries(checker.fast_objects(AnnotationParser()))
    return reader.entry(json.dumps(entry, allow_nan=True).encode())


def _object_path(entry: Any) -> tuple[Any, list[Any]]:
    """The object path's Annotations and problems of an entry (as a dict)."""
    checker = AnnotationsChecker("b.zip", LABELS, size=SIZE, frame_size=_frame_size, deleted=set(), lenient=True)
    return checker.objects(1, entry, AnnotationParser()), checker.finish()


def test_the_base_objects_take_the_fast_paths() -> None:
    """Otherwise the properties below would hold for a fast path that never says yes."""
    for key, objects in BASE.items():
        for raw in objects:
            expected = _detailed(key, raw)
            assert expected != "bad"
            if raw is not SKELETON_TRACK:  # skeleton tracks always take the detailed path
                assert _fast(key, raw) == expected
    entry = {key: objects[:-1] if key == "tracks" else objects for key, objects in BASE.items()}
    assert _typed(entry) == _object_path(entry)[0]


@settings(max_examples=1500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_objects())
def test_what_the_object_fast_path_accepts_the_checker_accepts_and_parses_alike(mutation: tuple[str, Any]) -> None:
    key, raw = mutation
    found = _fast(key, raw)
    if found is not None:
        assert found == _detailed(key, raw)


@settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_objects(), min_size=1, max_size=4))
def test_what_the_entry_fast_path_accepts_the_object_path_accepts_alike(mutations: list[tuple[str, Any]]) -> None:
    entry = copy.deepcopy(BASE)
    entry["tracks"].pop()  # the skeleton track: its entry always takes the object path
    for key, raw in mutations:
        entry[key].append(raw)
    found = _typed(entry)
    if found is not None:  # read back as a load reads it: orjson (big integers become floats), else json
        annotations, problems = _object_path(backup._json_loads(json.dumps(entry, allow_nan=True).encode()))
        assert problems == [] and found == annotations


def _changed(key: str, index: int, path: tuple[Any, ...], value: Any, *more: Any) -> tuple[str, Any]:
    """(key, a copy of base object ``index`` with ``value`` at ``path``, and so on for the
    (path, value) pairs of ``more``; DELETE removes the field)."""
    obj = copy.deepcopy(BASE[key][index])
    for where, new in [(path, value), *zip(more[::2], more[1::2], strict=True)]:
        parent = obj
        for step in where[:-1]:
            parent = parent[step]
        if new is DELETE:
            del parent[where[-1]]
        else:
            parent[where[-1]] = new
    return key, obj


DELETE = object()
NAN = float("nan")
# one object for each rule of ObjectChecker, broken (BAD) or unusual but good (GOOD); BASE shapes:
# 0 rectangle 'car', 2 polygon, 3 polyline, 4 points, 5 ellipse, 6 mask, 7 cuboid, 8 skeleton 'fish',
# 9 rectangle 'car' (job 2), 10 rectangle 'person'; tracks: 0 'car', 1 'person'; tags: 0 'person', 1 'car'
BAD = [
    _changed("shapes", 10, ("label",), "fish"), _changed("shapes", 0, ("type",), "skeleton"),
    _changed("shapes", 10, ("label",), "nose"), _changed("shapes", 10, ("label",), "ghost"),
    _changed("shapes", 5, ("points", 2), 20.0), _changed("shapes", 5, ("points", 3), 30.0),
    _changed("shapes", 10, ("points",), [1.0, 2.0, 3.0]), _changed("shapes", 10, ("points",), [1.0] * 6),
    _changed("shapes", 2, ("points",), [1.0] * 4), _changed("shapes", 3, ("points",), [1.0] * 5),
    _changed("shapes", 7, ("points",), [1.0] * 14), _changed("shapes", 4, ("points",), []),
    _changed("shapes", 10, ("points", 2), 1e6 + 1), _changed("shapes", 10, ("points", 0), -1e6 - 1),
    _changed("shapes", 10, ("points", 1), NAN), _changed("shapes", 10, ("points", 1), True),
    _changed("shapes", 10, ("points", 1), "1"), _changed("shapes", 10, ("points",), None),
    _changed("shapes", 10, ("frame",), SIZE), _changed("shapes", 10, ("frame",), -1),
    _changed("shapes", 10, ("frame",), True), _changed("shapes", 10, ("frame",), 1.0),
    _changed("shapes", 10, ("z_order",), True), _changed("shapes", 10, ("z_order",), 1.5),
    _changed("shapes", 10, ("group",), "1"), _changed("shapes", 10, ("group",), 2**64),
    _changed("shapes", 10, ("rotation",), NAN), _changed("shapes", 10, ("rotation",), float("inf")),
    _changed("shapes", 10, ("rotation",), True), _changed("shapes", 10, ("score",), "1"),
    _changed("shapes", 10, ("source",), 5), _changed("shapes", 10, ("elements",), [{}]),
    _changed("shapes", 10, ("elements",), "x"), _changed("shapes", 10, ("attributes",), {}),
    _changed("shapes", 10, ("attributes",), [{"name": "model", "value": "bmw"}]),
    _changed("shapes", 0, ("attributes", 0, "value"), "audi"), _changed("shapes", 0, ("attributes", 0), "model"),
    _changed("shapes", 0, ("attributes", 0, "name"), None), _changed("shapes", 0, ("attributes", 0, "value"), None),
    _changed("shapes", 0, ("attributes", 0, "value"), ["bmw"]),
    _changed("shapes", 12, ("attributes", 0, "value"), "fast"),
    _changed("shapes", 12, ("attributes", 0, "value"), "nan"),
    _changed("shapes", 0, ("attributes", 1, "value"), "maybe"),
    _changed("shapes", 0, ("attributes", 3, "value"), "\x00"),
    _changed("shapes", 6, ("points", 0), -1.0), _changed("shapes", 6, ("points", 0), 2.5),
    _changed("shapes", 6, ("points", 9), 64.0), _changed("shapes", 6, ("points", 7), 24.0),
    _changed("shapes", 8, ("elements",), []), _changed("shapes", 8, ("elements",), None),
    _changed("shapes", 8, ("elements", 1, "label"), "nose"), _changed("shapes", 8, ("elements", 1, "label"), "car"),
    _changed("shapes", 8, ("elements", 1, "frame"), 1), _changed("shapes", 8, ("elements", 1, "type"), "rectangle"),
    _changed("shapes", 8, ("elements", 1, "points"), [1.0, 2.0, 3.0, 4.0]),
    _changed("shapes", 8, ("elements", 1, "elements"), [1]), _changed("shapes", 8, ("elements", 1, "z_order"), 1.5),
    _changed("shapes", 8, ("points",), [1.0]), _changed("tracks", 0, ("label",), "fish"),
    _changed("tracks", 1, ("elements",), [{"label": "nose", "shapes": []}]),
    _changed("tracks", 0, ("shapes", 1, "frame"), 0), _changed("tracks", 0, ("shapes", 1, "type"), "polygon"),
    _changed("tracks", 0, ("shapes", 1, "type"), "skeleton"), _changed("tracks", 0, ("shapes", 1, "frame"), SIZE),
    _changed("tracks", 0, ("shapes", 1, "attributes"), [{"name": "speed", "value": "fast"}]),
    _changed("tracks", 0, ("shapes",), {}), _changed("tracks", 0, ("frame",), SIZE),
    _changed("tracks", 1, ("label",), "fish"), _changed("tracks", 1, ("label",), "nose"),
    _changed("tracks", 1, ("shapes", 0, "type"), "skeleton", ("shapes", 1, "type"), "skeleton",
             ("shapes", 0, "points"), [], ("shapes", 1, "points"), []),
    _changed("tracks", 1, ("shapes", 0, "type"), "ellipse", ("shapes", 1, "type"), "ellipse"),
    _changed("tracks", 1, ("shapes", 1, "points"), [1.0, 2.0, 3.0]), _changed("tracks", 1, ("z_order",), 1.5),
    _changed("shapes", 10, ("score",), NAN), _changed("shapes", 10, ("score",), -float("inf")),
    _changed("shapes", 10, ("z_order",), 2**64), _changed("shapes", 8, ("elements", 1, "group"), 2**64),
    _changed("tags", 0, ("frame",), SIZE), _changed("tags", 0, ("label",), "nose"),
    _changed("tags", 0, ("z_order",), 2**64),
    _changed("tags", 1, ("attributes", 0, "value"), "audi"), _changed("tags", 0, ("group",), False),
]
GOOD = [
    _changed("shapes", 10, ("points",), [1, 2, 3, 4]), _changed("shapes", 10, ("rotation",), -0.0),
    _changed("shapes", 10, ("rotation",), 5), _changed("shapes", 10, ("score",), 0),
    _changed("shapes", 10, ("group",), None),
    _changed("shapes", 10, ("source",), "Ground truth"), _changed("shapes", 10, ("source",), ""),
    _changed("shapes", 10, ("occluded",), "true"), _changed("shapes", 10, ("outside",), 1),
    _changed("shapes", 10, ("elements",), DELETE), _changed("shapes", 10, ("elements",), 0),
    _changed("shapes", 10, ("attributes",), None), _changed("shapes", 10, ("points", 2), 1e6),
    _changed("shapes", 0, ("attributes", 2, "value"), 5), _changed("shapes", 0, ("attributes", 1, "value"), True),
    _changed("shapes", 0, ("attributes", 0, "extra"), 1),
    _changed("shapes", 8, ("elements", 0, "source"), "Ground truth"),
    _changed("shapes", 6, ("points", 0), 3), _changed("tracks", 0, ("source",), "Ground truth"),
    _changed("tracks", 0, ("shapes", 0, "elements"), [{"type": "points", "frame": 0, "points": [1.0, 2.0]}]),
    _changed("tracks", 0, ("shapes",), list(reversed(BASE["tracks"][0]["shapes"]))),
    _changed("tracks", 0, ("shapes", 0, "label"), "anything"), _changed("tracks", 0, ("shapes", 0, "source"), "auto"),
    _changed("tags", 0, ("source",), "Ground truth"), _changed("tags", 0, ("score",), 0.5),
]


@pytest.mark.parametrize("case, bad", [(case, True) for case in BAD] + [(case, False) for case in GOOD])
def test_each_rule_is_kept_by_the_fast_paths(case: tuple[str, Any], bad: bool) -> None:
    key, raw = case
    text = json.dumps({key: [raw]}, allow_nan=True).encode()
    loaded = backup._json_loads(text)  # as a load reads it (orjson makes floats of huge integers)
    expected = _detailed(key, loaded[key][0])
    assert (expected == "bad") == bad
    assert _fast(key, loaded[key][0]) in (None, expected)
    checker = AnnotationsChecker("b.zip", LABELS, size=SIZE, frame_size=_frame_size, deleted=set(), lenient=True)
    found = typed.TypedEntries(checker.fast_objects(AnnotationParser())).entry(text)
    assert found is None if bad else found in (None, _object_path(loaded)[0])


@pytest.mark.parametrize("attributes, expected", [
    ([{"name": "parked", "value": "true"}], {"parked": "true"}),
    ([{"name": "parked", "value": True}], {"parked": "True"}),  # a bool: the parser's str(), not JSON's text
    ([{"name": "speed", "value": 5}], {"speed": "5"}),
    ([{"name": "speed", "value": 5.0}], {"speed": "5.0"}),
    ([{"value": "bmw", "name": "model"}], {"model": "bmw"}),
    ([{"name": "model"}], None),  # '' is not one of the values
])
def test_attribute_lists_that_print_alike_are_not_taken_for_each_other(attributes: list[Any], expected: Any) -> None:
    shapes = [{**OLD_STYLE_SHAPE, "attributes": [{"name": "parked", "value": "true"}]},
              {**OLD_STYLE_SHAPE, "attributes": attributes}]
    entry = {"shapes": shapes}
    annotations, problems = _object_path(entry)
    if expected is None:
        assert [p.kind for p in problems] == ["bad attribute value"]
        return
    assert problems == [] and annotations.shapes[1].attributes == expected
    found = _typed(entry)
    assert found is None or found == annotations


@pytest.mark.parametrize("points, good", [
    ([2.0, 3.0, 1.0, 10.0, 10.0, 11.0, 12.0], True),  # runs 2+3+1 over a 2x3 box
    ([2.0, -1.0, 5.0, 10.0, 10.0, 11.0, 12.0], False),  # a negative run, though the sum is right
    ([6.0, 0.0, 10.0, 10.0, 11.0, 12.0], True),
    ([2.0**53, 6.0 - 2.0**53, 10.0, 10.0, 11.0, 12.0], False),
    ([2.0**53, 2.0**53, 10.0, 10.0, 11.0, 12.0], False),
    ([6.5, 10.0, 10.0, 11.0, 12.0], False),
    ([1.0, 63.0, 47.0, 63.0, 47.0], True),
    ([1.0, 64.0, 47.0, 64.0, 47.0], False),  # beyond the 64x48 image
])
def test_masks_are_judged_alike(points: list[float], good: bool) -> None:
    raw = {**BASE["shapes"][6], "points": points}
    assert raw["type"] == "mask"
    assert (_detailed("shapes", raw) != "bad") == good
    assert (_fast("shapes", raw) is not None) == good
    assert (_typed({"shapes": [raw]}) is not None) == good


def test_what_only_orjson_reads_differently_takes_the_object_path() -> None:
    """Integers beyond 64 bits (orjson makes floats of them), text that is not UTF-8 in a field
    nobody reads (msgspec does not check it), nesting deeper than msgspec goes."""
    shape = BASE["shapes"][0]
    checker = AnnotationsChecker("b.zip", LABELS, size=SIZE, frame_size=_frame_size, deleted=set())
    reader = typed.TypedEntries(checker.fast_objects(AnnotationParser()))
    plain = json.dumps({"shapes": [shape]}).encode()
    assert reader.entry(plain) is not None
    assert reader.entry(plain.replace(b'"z_order": 0', b'"z_order": 9223372036854775808')) is None
    assert reader.entry(plain.replace(b'"z_order": 0', b'"z_order": -9223372036854775809')) is None
    assert reader.entry(plain.replace(b'"z_order": 0', b'"z_order": 9223372036854775807')) is not None
    assert reader.entry(plain.replace(b'"z_order": 0', b'"z_order": -9223372036854775808')) is not None
    assert reader.entry(plain[:-1] + b', "note": "\xff"}') is None
    assert reader.entry(plain[:-1] + b', "note": ' + b"[" * 2000 + b"]" * 2000 + b"}") is None


def test_a_backup_loads_the_same_with_or_without_msgspec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    labels = TASK["labels"]
    entries = [{"version": 0, **{k: v for k, v in BASE.items()}}]
    path = write_backup(tmp_path / "b.zip", task_json(labels, stop_frame=SIZE - 1), entries, frames(SIZE, 64, 48))
    monkeypatch.setattr(backup, "TYPED_MIN_BYTES", 0)
    with_typed = load_task(path)
    monkeypatch.setattr(backup, "TYPED_MIN_BYTES", 1 << 62)
    assert load_task(path) == with_typed
    bad = [{"version": 0, "shapes": BASE["shapes"][:1], "note": "\udcff"}]
    broken = write_backup(tmp_path / "c", task_json(labels, stop_frame=SIZE - 1), bad, frames(SIZE, 64, 48),
                          as_zip=False)
    text = (broken / "annotations.json").read_bytes()
    (broken / "annotations.json").write_bytes(text.replace(b"\\udcff", b"\xff"))  # not UTF-8
    for limit in (0, 1 << 62):
        monkeypatch.setattr(backup, "TYPED_MIN_BYTES", limit)
        with pytest.raises(BackupError, match="annotations.json is not valid JSON"):
            load_task(broken)


# --- reading image headers straight from the archive -------------------------------------------


def test_member_heads_are_read_as_zipfile_reads_them(tmp_path: Path) -> None:
    members = {"small.png": bytes(range(200)), "tiny": b"abc", "big.png": bytes(range(256)) * 40,
               "deflated.png": bytes(range(256)) * 3}
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("task.json", b"{}")
        for name, data in members.items():
            method = zipfile.ZIP_DEFLATED if name.startswith("deflated") else zipfile.ZIP_STORED
            archive.writestr(name, data, compress_type=method)
    source = BackupSource(path)
    try:
        for name, data in members.items():
            for size in (0, 3, 24, 5000):
                assert source.head(name, size) == data[:size]
    finally:
        source.close()
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        small, big = archive.getinfo("small.png"), archive.getinfo("big.png")
    for info, offset in ((small, 100), (big, 9000)):
        raw[info.header_offset + 30 + len(info.filename) + offset] ^= 0xFF  # past the first 24 bytes
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    source = BackupSource(damaged)
    try:
        with pytest.raises(zipfile.BadZipFile):  # read to its end at once: its CRC is checked, as ZipFile does
            source.head("small.png", 24)
        assert source.head("big.png", 24) == members["big.png"][:24]
    finally:
        source.close()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet="ab./\\é0", max_size=12))
def test_suffixes_are_pathlibs(name: str) -> None:
    assert _suffix(name) == PurePosixPath(name).suffix.lower()
