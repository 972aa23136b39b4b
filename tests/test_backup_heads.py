"""BackupSource.heads: image headers of many stored ZIP members read in one go, as ``head`` reads them."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from cvat_bridge.backup_source import BackupSource


def _png(width: int, height: int, tail: bytes = b"") -> bytes:
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + ihdr + b"\x00\x00\x00\x00" + tail


def _backup(path: Path, deflated: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    names = [f"data/{i:03d}.png" for i in range(40)]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("task.json", "{}")
        for i, name in enumerate(reversed(names)):  # archive order is not name order
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED if name in deflated else zipfile.ZIP_STORED
            info.extra = b"\x99\x99\x02\x00ab" if i % 3 == 0 else b""  # local extra fields of other tools
            archive.writestr(info, _png(10 + i, 20 + i, b"z" * (i * 300)))  # some beyond one read
    return names


@pytest.mark.parametrize("deflated", [set(), {"data/007.png"}])
def test_heads_are_what_head_reads(tmp_path: Path, deflated: set[str]) -> None:
    names = _backup(tmp_path / "b.zip", deflated)
    source = BackupSource(tmp_path / "b.zip")
    try:
        expected = [source.head(name, 24) for name in names]
        assert source.heads(names, 24) == expected
        assert source.heads(names, 5000) == [source.head(name, 5000) for name in names]
    finally:
        source.close()


def test_a_damaged_member_fails_as_head_fails(tmp_path: Path) -> None:
    names = _backup(tmp_path / "b.zip")
    data = bytearray((tmp_path / "b.zip").read_bytes())
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        info = archive.getinfo("data/038.png")
        # past the 24 bytes wanted: only the CRC check sees it
        at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 28
    data[at] ^= 0xFF
    (tmp_path / "b.zip").write_bytes(bytes(data))
    source = BackupSource(tmp_path / "b.zip")
    try:
        with pytest.raises(zipfile.BadZipFile):
            source.head("data/038.png", 24)
        with pytest.raises(zipfile.BadZipFile):
            source.heads(names, 24)
        assert source.heads(names[:5], 24) == [source.head(name, 24) for name in names[:5]]
    finally:
        source.close()
