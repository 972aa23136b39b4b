"""The Datumaro-free writers of Datumaro 1.0 and COCO Keypoints 1.0 against the Datumaro path they replace.

The expectation is always computed by the Datumaro path (``translate.TaskExtractor``, the row's
``ellipses_to_masks`` tweak and the project's Datumaro exporter plugins, still installed), never
by our writers: on the sample backup (task, job, with images), on seeded random tasks full of
skeletons, groups, cuboids, tags and ellipses (tests/json_writer_tasks.py), on a video task with
a frame step and deleted frames, and on nested image folders. Parity with CVAT's own archives
is tests/test_conformance.py's job; DELTAS.md item 1 (skeletons in Datumaro 1.0) is judged by
upstream's importer, which must read our archive as it reads the old one.
"""

from __future__ import annotations

import logging
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cvat_bridge.backup import load_task
from cvat_bridge.export import export_task
from cvat_bridge.formats.fast_skeletons import joints_in_datumaro_order, round2_f32
from cvat_bridge.formats.registry import FormatSpec, find_format
from cvat_bridge.model import Task
from tests.conftest import ROOT, SAMPLE
from tests.json_writer_tasks import make_skeleton_backup, random_annotations, skeleton_labels
from tests.writer_checks import assert_same_bytes, make_video_module

# the rows these writers replaced (format_map.yaml keeps them in the notes)
DATUMARO_ROWS = {
    "Datumaro 1.0": FormatSpec("Datumaro 1.0", exporter="cvat_bridge.formats.datumaro_format:CvatDatumaroExporter",
                               options={"keep_cuboids": True}, tweaks=["ellipses_to_masks"], status="done"),
    "COCO Keypoints 1.0": FormatSpec("COCO Keypoints 1.0",
                                     exporter="cvat_bridge.formats.coco_keypoints:CvatCocoKeypointsExporter",
                                     options={"merge_images": True}, tweaks=["ellipses_to_masks"], status="done"),
}
RANDOM = [  # seed, image size, frame names, with images
    (1, (96, 64), "plain", False), (2, (640, 480), "numeric", False), (3, (37, 23), "folders", True),
    (4, (300, 200), "plain", False),
]


@pytest.fixture(autouse=True)
def _fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    logging.getLogger("datumaro").setLevel(logging.ERROR)


def assert_same_archives(task: Task, format_name: str, tmp_path: Path, **options: object) -> dict[str, bytes]:
    """Export ``task`` through our row and the old Datumaro row; the archives must hold the same
    bytes (orjson on both sides: equal values give equal bytes)."""
    return assert_same_bytes(task, format_name, DATUMARO_ROWS[format_name], tmp_path, **options)


@pytest.fixture(scope="module")
def random_backups(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, bool], Path]:
    folder = tmp_path_factory.mktemp("skeletons")
    return {(seed, crowd): make_skeleton_backup(folder / f"s{seed}_{crowd}.zip", seed=seed, frames=8, width=size[0],
                                                height=size[1], names=names, crowd=crowd, deleted_frames=[3])
            for seed, size, names, _ in RANDOM for crowd in (True, False)}


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
@pytest.mark.parametrize(("seed", "images"), [(s, i) for s, _, _, i in RANDOM])
@pytest.mark.parametrize("crowd", [True, False])
def test_writer_matches_the_datumaro_path_on_random_tasks(format_name: str, seed: int, images: bool, crowd: bool,
                                                          tmp_path: Path,
                                                          random_backups: dict[tuple[int, bool], Path]) -> None:
    task = load_task(random_backups[(seed, crowd)])
    files = assert_same_archives(task, format_name, tmp_path, save_images=images)
    if images:
        assert any(name.startswith("images/") and name.count("/") >= 3 for name in files), "nested folders"


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
@pytest.mark.parametrize("job", [None, 2])
def test_writer_matches_the_datumaro_path_on_the_sample(format_name: str, job: int | None, tmp_path: Path) -> None:
    task = load_task(SAMPLE)
    assert_same_archives(task, format_name, tmp_path, job=job, save_images=True)
    assert_same_archives(task, format_name, tmp_path / "plain", job=job)


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
def test_writer_matches_the_datumaro_path_on_a_video_task_with_a_frame_step(format_name: str,
                                                                              tmp_path: Path) -> None:
    pytest.importorskip("av")
    mv = make_video_module()
    meta = mv.task_meta(6, start=2, step=3, deleted=[2])  # absolute frames 2, 5, 8 (deleted), 11, 14, 17
    meta["labels"] = skeleton_labels()
    backup = mv.make_video_backup(tmp_path / "video.zip", count=18, width=64, height=48, task=meta,
                                  annotations=random_annotations(7, 6, 64, 48))
    task = load_task(backup)
    files = assert_same_archives(task, format_name, tmp_path, save_images=True)
    assert sum(name.endswith(".PNG") for name in files) == 5


def test_datumaro_round_trip_reads_the_same_dataset_as_the_old_output(tmp_path: Path,
                                                                      random_backups: dict[tuple[int, bool], Path]
                                                                      ) -> None:
    """DELTAS.md items 1 and 2: upstream's importer must read skeletons and cuboids back from ours."""
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset

    for backup in (SAMPLE, random_backups[(1, True)], random_backups[(3, False)]):
        task = load_task(backup)
        read = []
        for name, spec in (("ours", find_format("Datumaro 1.0")), ("dm", DATUMARO_ROWS["Datumaro 1.0"])):
            out = export_task(task, spec, tmp_path / name, overwrite=True)
            read.append(Dataset.import_from(str(out), "datumaro"))
        ours, expected = read
        assert len(ours) == len(expected) > 0
        kinds = set()
        for item in expected:
            back = ours.get(item.id, item.subset)
            assert back is not None, item.id
            assert back.annotations == item.annotations, item.id
            assert back.attributes == item.attributes and back.media == item.media, item.id
            kinds.update(a.type for a in item.annotations)
        if backup != SAMPLE:
            assert {AnnotationType.points, AnnotationType.cuboid_2d, AnnotationType.mask} <= kinds
        for kind in (AnnotationType.label, AnnotationType.points):
            assert ours.categories()[kind] == expected.categories()[kind]


def test_round2_f32_is_numpys_float32_rounding() -> None:
    rng = random.Random(11)
    values = [rng.uniform(-2000, 2000) for _ in range(20000)]
    values += [round(v, 3) for v in values[:5000]]
    values += [0.0, -0.0, -0.001, 0.004, 0.005, -0.005, 0.125, 2.675, 1e6 + 0.005]
    values += [k / 200 for k in range(-400, 400)]  # exact halves of the last digit
    expected = np.array(values, dtype=np.float32).round(2).tolist()
    ours = round2_f32(values)
    assert [float(v).hex() for v in ours] == [float(v).hex() for v in expected]  # hex: -0.0 and 0.0 differ


def test_joints_are_listed_in_datumaro_set_order() -> None:
    from datumaro.components.annotation import PointsCategories

    rng = random.Random(3)
    for _ in range(200):
        count = rng.randint(2, 40)
        joints = [(rng.randint(1, count), rng.randint(1, count)) for _ in range(rng.randint(0, 60))]
        categories = PointsCategories()
        categories.add(0, [f"p{i}" for i in range(count)], [list(j) for j in joints])
        assert joints_in_datumaro_order(joints) == [list(map(int, j)) for j in categories.items[0].joints]


def test_these_formats_do_not_import_datumaro(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from cvat_bridge.export import export\n"
        "for name in ('Datumaro 1.0', 'COCO Keypoints 1.0'):\n"
        f"    export({str(SAMPLE)!r}, name, {str(tmp_path)!r} + '/' + name[:4] + '.zip')\n"
        "print(sorted(m for m in ('datumaro', 'PIL', 'scipy', 'shapely') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_datumaro_refuses_a_subset_with_a_path_separator(tmp_path: Path) -> None:
    from cvat_bridge.errors import FormatError

    task = load_task(SAMPLE)
    task.subset = "a/b"
    with pytest.raises(FormatError, match="subset name 'a/b'"):
        export_task(task, find_format("Datumaro 1.0"), tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()
