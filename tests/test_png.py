"""Our PNG encoder: pixels and mode come back as given (Pillow decodes), and the bytes are CVAT's:
every mask PNG of CVAT's reference exports of ``small`` is written again, byte for byte, by our
mask writers (checkers without an image library compare PNGs as bytes)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cvat_bridge.formats.png import encode_png
from cvat_bridge.formats.registry import find_format
from tests.conftest import reference_or_skip

Image = pytest.importorskip("PIL.Image", reason="Pillow decodes the PNGs")


def _decode(data: bytes) -> object:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_grey_image_round_trips() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, size=(7, 13), dtype=np.uint8)
    image = _decode(encode_png(pixels))
    assert image.mode == "L"
    assert np.array_equal(np.asarray(image), pixels)


def test_sixteen_bit_grey_keeps_large_values() -> None:
    pixels = np.array([[0, 1000, 65535], [256, 2, 3]], dtype=np.uint16)
    image = _decode(encode_png(pixels))
    assert image.mode in ("I;16", "I", "I;16B")
    assert np.array_equal(np.asarray(image).astype(np.int64), pixels.astype(np.int64))


def test_rgb_image_round_trips() -> None:
    pixels = np.random.default_rng(2).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    image = _decode(encode_png(pixels))
    assert image.mode == "RGB"
    assert np.array_equal(np.asarray(image), pixels)


def test_unsupported_input_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_png(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ValueError):
        encode_png(np.zeros((2, 2, 2), dtype=np.uint8))


def test_int32_masks_become_saturated_sixteen_bit_grey() -> None:
    """As CVAT's Datumaro saves int32 masks (Cityscapes instance ids, KITTI): through Pillow."""
    image = _decode(encode_png(np.array([[0, 70000], [-5, 1234]], dtype=np.int32)))
    assert image.mode in ("I;16", "I", "I;16B")
    assert np.asarray(image).astype(np.int64).tolist() == [[0, 65535], [0, 1234]]


MASK_FORMATS = ["CamVid 1.0", "Cityscapes 1.0", "KITTI 1.0", "LabelMe 3.0", "MOTS PNG 1.0",
                "Open Images 1.0", "PASCAL VOC 1.0", "Segmentation Mask 1.0"]


@pytest.mark.parametrize("format_name", MASK_FORMATS)
def test_mask_pngs_are_byte_for_byte_cvats(format_name: str, tmp_path: Path) -> None:
    from cvat_bridge.export import export

    spec = find_format(format_name)
    reference = reference_or_skip("small", "exports", spec.display_name.replace(" ", "_"), "without_images.zip")
    ours = export(reference_or_skip("small", "backup.zip"), format_name, tmp_path / "ours.zip")
    with zipfile.ZipFile(reference) as theirs, zipfile.ZipFile(ours) as mine:
        pngs = [name for name in theirs.namelist() if name.lower().endswith(".png")]
        assert pngs
        differing = [name for name in pngs if theirs.read(name) != mine.read(name)]
    assert differing == []


def test_icdar_bmps_are_opencvs_bytes() -> None:
    """ICDAR Segmentation's BMPs: what OpenCV (CVAT's encoder) writes, for any size (row padding)."""
    cv2 = pytest.importorskip("cv2", reason="OpenCV is the encoder compared with")
    from cvat_bridge.formats.fast_icdar_seg import encode_bmp

    rng = np.random.default_rng(3)
    for height, width in [(1, 1), (2, 3), (5, 4), (7, 13), (16, 37)]:
        rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        assert encode_bmp(rgb) == cv2.imencode(".bmp", rgb[:, :, ::-1])[1].tobytes(), (height, width)


def test_icdar_segmentation_images_are_byte_for_byte_cvats(tmp_path: Path) -> None:
    from cvat_bridge.export import export

    folder = reference_or_skip("formats", "ICDAR_Segmentation_1.0")
    ours = export(folder / "backup.zip", "ICDAR Segmentation 1.0", tmp_path / "ours.zip")
    with zipfile.ZipFile(folder / "exports" / "ICDAR_Segmentation_1.0" / "without_images.zip") as theirs, \
            zipfile.ZipFile(ours) as mine:
        images = [name for name in theirs.namelist() if name.lower().endswith(".bmp")]
        assert images
        assert [name for name in images if theirs.read(name) != mine.read(name)] == []
