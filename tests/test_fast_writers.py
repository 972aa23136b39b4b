"""The Datumaro-free writers of COCO 1.0, MOT 1.1 and YOLO 1.1 against the Datumaro path they replace.

The expectation is always computed by the Datumaro path (``translate.TaskExtractor``, the
row's tweaks and Datumaro's exporter, still installed), never by our writers: on the sample
backup and on seeded random tasks (tests/fast_writer_tasks.py) that hit every corner of the
COCO instance logic (groups, crowd masks, masks of another label, ellipses at the edges,
``score``/``is_crowd`` attributes), numeric frame names (MOT frame ids) and sub-folders.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cvat_bridge.backup import load_task
from cvat_bridge.export import export_task
from cvat_bridge.formats import fast_masks
from cvat_bridge.formats.registry import FormatSpec, find_format
from cvat_bridge.view import ExportView
from tests.conftest import ROOT, SAMPLE
from tests.fast_writer_tasks import make_stress_backup
from tests.writer_checks import members

# the rows these writers replaced (format_map.yaml keeps them in the notes)
DATUMARO_ROWS = {
    "COCO 1.0": FormatSpec("COCO 1.0", exporter="coco_instances", options={"merge_images": True},
                           tweaks=["ellipses_to_masks"], status="done"),
    "MOT 1.0": FormatSpec("MOT 1.0", exporter="cvat_bridge.formats.mot:CvatMotExporter", status="done"),
    "YOLO 1.0": FormatSpec("YOLO 1.0", exporter="yolo", status="done"),
}
STRESS = [  # seed, image size, frame names
    (1, (96, 64), "plain"), (2, (640, 480), "numeric"), (3, (37, 23), "folders"), (4, (300, 200), "plain"),
]


def assert_same_files(ours: dict[str, bytes], expected: dict[str, bytes]) -> None:
    assert sorted(ours) == sorted(expected)
    for name, data in expected.items():
        if name.endswith(".json"):  # the same JSON values (orjson on both sides: the same bytes too)
            assert json.loads(ours[name]) == json.loads(data), name
        else:
            assert ours[name] == data, name


@pytest.fixture(scope="module")
def stress_backups(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, bool], Path]:
    folder = tmp_path_factory.mktemp("stress")
    return {(seed, crowd): make_stress_backup(folder / f"s{seed}_{crowd}.zip", seed=seed, frames=8, width=size[0],
                                              height=size[1], names=names, crowd=crowd)
            for seed, size, names in STRESS for crowd in (True, False)}


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
@pytest.mark.parametrize("seed", [s for s, _, _ in STRESS])
def test_writer_matches_the_datumaro_path_on_random_tasks(format_name: str, seed: int, tmp_path: Path,
                                                          stress_backups: dict[tuple[int, bool], Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    # YOLO: upstream Datumaro 1.13 drops boxes with a true is_crowd attribute, CVAT's fork does not
    task = load_task(stress_backups[(seed, format_name != "YOLO 1.0")])
    ours = export_task(task, find_format(format_name), tmp_path / "ours.zip", save_images=seed == 3)
    expected = export_task(task, DATUMARO_ROWS[format_name], tmp_path / "dm.zip", save_images=seed == 3)
    assert_same_files(members(ours), members(expected))


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
@pytest.mark.parametrize("job", [None, 2])
def test_writer_matches_the_datumaro_path_on_the_sample(format_name: str, job: int | None, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    task = load_task(SAMPLE)
    ours = export_task(task, find_format(format_name), tmp_path / "ours.zip", job=job, save_images=True)
    expected = export_task(task, DATUMARO_ROWS[format_name], tmp_path / "dm.zip", job=job, save_images=True)
    assert_same_files(members(ours), members(expected))


def test_yolo_keeps_boxes_marked_is_crowd(stress_backups: dict[tuple[int, bool], Path], tmp_path: Path) -> None:
    """CVAT 2.15's Datumaro fork writes every box; only upstream Datumaro 1.13 skips crowd regions."""
    task = load_task(stress_backups[(1, True)])
    ours = members(export_task(task, find_format("YOLO 1.0"), tmp_path / "ours.zip"))
    upstream = members(export_task(task, DATUMARO_ROWS["YOLO 1.0"], tmp_path / "dm.zip"))
    boxes = [s for frame in ExportView(task).frames() for s in frame.shapes if s.shape.type == "rectangle"]
    crowd = sum(s.attributes.get("is_crowd", "false") == "true" for s in boxes)
    assert crowd, "the random task should mark some boxes as crowds"

    def lines(files: dict[str, bytes]) -> int:
        return sum(len(data.splitlines()) for name, data in files.items()
                   if name.startswith("obj_train_data/") and name.endswith(".txt"))

    assert lines(ours) == len(boxes)
    assert lines(upstream) == len(boxes) - crowd


def test_coco_reads_back_in_pycocotools_like_the_datumaro_export(tmp_path: Path,
                                                                  stress_backups: dict[tuple[int, bool], Path]) -> None:
    coco_api = pytest.importorskip("pycocotools.coco")
    for backup in (SAMPLE, stress_backups[(1, True)], stress_backups[(2, True)]):
        task = load_task(backup)
        loaded = []
        for name, spec in (("ours", find_format("COCO 1.0")), ("dm", DATUMARO_ROWS["COCO 1.0"])):
            out = export_task(task, spec, tmp_path / f"{name}", overwrite=True)
            api = coco_api.COCO()
            api.dataset = json.loads(next((out / "annotations").glob("instances_*.json")).read_text())
            api.createIndex()
            loaded.append(api)
        ours, expected = loaded
        assert ours.getImgIds() == expected.getImgIds()
        assert ours.getAnnIds() == expected.getAnnIds() and expected.getAnnIds()
        for ann_id in expected.getAnnIds():
            a, b = ours.anns[ann_id], expected.anns[ann_id]
            assert (a["image_id"], a["category_id"], a["iscrowd"], a["bbox"], a["area"]) == (
                b["image_id"], b["category_id"], b["iscrowd"], b["bbox"], b["area"]), ann_id
            if b["segmentation"]:  # boxes carry [] (DELTAS 9): annToMask is for the others
                assert np.array_equal(ours.annToMask(a), expected.annToMask(b)), ann_id


def test_mask_summary_matches_datumaro_and_pycocotools() -> None:
    from datumaro.util.mask_tools import mask_to_rle
    from pycocotools import mask as mask_utils

    rng = random.Random(5)
    for trial in range(400):
        width, height = rng.randint(1, 30), rng.randint(1, 30)
        x, y = rng.randint(0, width - 1), rng.randint(0, height - 1)
        w, h = rng.randint(1, width - x), rng.randint(1, height - y)
        density = rng.choice([0.0, 0.05, 0.5, 0.95, 1.0])
        data = (np.random.default_rng(trial).random((h, w)) < density).astype(np.uint8)
        canvas = np.zeros((height, width), dtype=np.uint8)
        canvas[y:y + h, x:x + w] = data
        counts, area, bbox = fast_masks.summary(fast_masks.Bitmap(x, y, data), width, height)
        rle = mask_utils.encode(np.asfortranarray(canvas))
        assert counts == [int(c) for c in mask_to_rle(canvas)["counts"]], trial
        assert area == int(mask_utils.area(rle)), trial
        assert bbox == [float(v) for v in mask_utils.toBbox(rle)], trial


def test_ellipse_window_matches_the_tweak_on_the_whole_canvas() -> None:
    from datumaro.components.annotation import Ellipse
    from pycocotools import mask as mask_utils

    from cvat_bridge.formats.tweaks import ellipse_to_mask
    from cvat_bridge.translate import with_exact_points

    rng = random.Random(7)
    for trial in range(300):
        width, height = rng.choice([(100, 80), (1920, 1080), (31, 17)])
        cx, cy = rng.uniform(-20, width + 20), rng.uniform(-20, height + 20)
        rx, ry = rng.uniform(0.5, width / 2), rng.uniform(0.5, height / 2)
        box = [round(v, 2) for v in (cx - rx, cy - ry, cx + rx, cy + ry)]
        angle = rng.choice([0.0, rng.uniform(0, 360)])
        ellipse = with_exact_points(Ellipse(*box, attributes={"rotation": angle}), box)  # as TaskExtractor makes it
        expected = mask_utils.decode(ellipse_to_mask(ellipse, height, width).rle)
        window = fast_masks.ellipse_mask(box, angle, width, height)
        ours = np.zeros((height, width), dtype=np.uint8)
        h, w = window.data.shape
        ours[window.y:window.y + h, window.x:window.x + w] = window.data
        assert np.array_equal(ours, expected), (trial, box, angle)


def test_these_formats_do_not_import_datumaro(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from cvat_bridge.export import export\n"
        f"for name in ('COCO 1.0', 'MOT 1.1', 'YOLO 1.1'):\n"
        f"    export({str(SAMPLE)!r}, name, {str(tmp_path)!r} + '/' + name[:4] + '.zip')\n"
        "print('datumaro' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False", result.stderr


def test_frames_that_would_be_one_item_are_refused(tmp_path: Path) -> None:
    """``x.png`` and ``x.bmp`` are both item ``x`` (one YOLO label file): Datumaro refuses them, and so do we."""
    from datumaro.components.errors import RepeatedItemError

    from cvat_bridge.errors import FormatError
    from tests.builders import png, task_json, write_backup

    box = {"type": "rectangle", "occluded": False, "outside": False, "z_order": 0, "rotation": 0.0,
           "points": [1.0, 1.0, 5.0, 5.0], "frame": 0, "group": 0, "source": "manual", "attributes": [],
           "elements": [], "label": "car"}
    backup = write_backup(tmp_path / "b.zip", task_json(stop_frame=1),
                          [{"version": 0, "tags": [], "shapes": [box], "tracks": []}],
                          {"x.png": png(8, 6), "x.bmp": png(8, 6)})
    task = load_task(backup)
    with pytest.raises(RepeatedItemError):
        export_task(task, DATUMARO_ROWS["COCO 1.0"], tmp_path / "dm.zip")
    for format_name in DATUMARO_ROWS:
        with pytest.raises(FormatError, match=r"'x.bmp' and 'x.png' would both be item 'x'"):
            export_task(task, find_format(format_name), tmp_path / "ours.zip")
        assert not (tmp_path / "ours.zip").exists()
