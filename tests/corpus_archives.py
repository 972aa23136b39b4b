"""Hostile task archives for the bad-input corpus: not ZIPs, bombs, encrypted or damaged members,
links and paths that point outside the backup. Each case is one mutation of the sample backup
(or an archive built around it); none of them can be skipped with ``--lenient``.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.corpus import SAMPLE, ZIP_DATE, Case, sample_members, write_zip

CASES: list[Case] = []


def _raw_case(name: str, build: Callable[[Path], Path], *expect: str, limits: dict[str, Any] | None = None) -> None:
    CASES.append(Case(name, build, expect, False, limits or {}))


def _file(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return build


def _zip_bomb(folder: Path) -> Path:
    """The sample plus a member that inflates about 1000-fold: 96 MiB of zeros in about 100 KiB."""
    path = folder / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sample_members().items():
            archive.writestr(zipfile.ZipInfo(name, date_time=ZIP_DATE), data, zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo("data/zeros.bmp", date_time=ZIP_DATE), bytes(96 << 20),
                         zipfile.ZIP_DEFLATED)
    return path


def _patched_central_directory(name: str, patch: Callable[[bytearray, int], None]) -> Callable[[Path], Path]:
    """The sample zip with a field of task.json's central-directory record changed."""

    def build(folder: Path) -> Path:
        data = bytearray(SAMPLE.read_bytes())
        offset = data.find(b"PK\x01\x02")
        while offset != -1:
            length = struct.unpack_from("<H", data, offset + 28)[0]
            if data[offset + 46: offset + 46 + length] == b"task.json":
                patch(data, offset)
                break
            offset = data.find(b"PK\x01\x02", offset + 46)
        path = folder / name
        path.write_bytes(bytes(data))
        return path

    return build


def _encrypted(data: bytearray, offset: int) -> None:
    struct.pack_into("<H", data, offset + 8, struct.unpack_from("<H", data, offset + 8)[0] | 0x1)


def _unknown_method(data: bytearray, offset: int) -> None:
    struct.pack_into("<H", data, offset + 10, 99)


def _many_entries(folder: Path) -> Path:
    members = sample_members()
    members.update({f"data/extra/{i}.txt": b"" for i in range(40)})
    return write_zip(folder / "many.zip", members)


def _symlink_members(folder: Path) -> Path:
    """task.json and annotations.json stored as symlink entries pointing outside the backup."""
    path = folder / "links.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in sample_members().items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            if name in ("task.json", "annotations.json"):
                info.external_attr = (0o120777 << 16)
                data = b"/etc/passwd"
            archive.writestr(info, data)
    return path


def _absolute_members(folder: Path) -> Path:
    members = {("/" if n == "task.json" else "") + n: d for n, d in sample_members().items()}
    members["../../../../escaped.txt"] = b"outside"
    return write_zip(folder / "absolute.zip", members)


def _folder_with_outside_link(folder: Path) -> Path:
    """An unpacked backup whose task.json is a symlink to a file outside it."""
    root = folder / "backup"
    for name, data in sample_members().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    outside = folder / "outside.json"
    outside.write_bytes((root / "task.json").read_bytes())
    (root / "task.json").unlink()
    (root / "task.json").symlink_to(outside)
    return root


def _corrupt_member(folder: Path) -> Path:
    """annotations.json with flipped bytes in its compressed data (CRC or inflate error)."""
    data = bytearray(SAMPLE.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("annotations.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 20, start + 60):
        data[i] ^= 0x5A
    path = folder / "corrupt.zip"
    path.write_bytes(bytes(data))
    return path


_raw_case("not_a_zip", _file("backup.zip", b"this is not a zip file at all\n" * 20), "not a ZIP archive")
_raw_case("empty_file", _file("backup.zip", b""), "not a ZIP archive")
_raw_case("empty_zip", lambda folder: write_zip(folder / "empty.zip", {}), "no task.json")
_raw_case("empty_folder", lambda folder: (folder / "empty").mkdir() or folder / "empty", "no task.json")
_raw_case("truncated_zip", lambda folder: _file("cut.zip", SAMPLE.read_bytes()[: SAMPLE.stat().st_size // 2])(folder),
          "not a ZIP archive")
_raw_case("zip_bomb", _zip_bomb, "data/zeros.bmp expands", "ZIP bomb")
_raw_case("too_many_entries", _many_entries, "entries, more than the limit of 30",
          limits={"validate_task.MAX_ZIP_ENTRIES": 30})
_raw_case("expands_beyond_limit", lambda folder: write_zip(folder / "big.zip", sample_members()),
          "expands to", limits={"validate_task.MAX_EXPANDED_BYTES": 10_000})
_raw_case("encrypted_member", _patched_central_directory("enc.zip", _encrypted), "task.json is encrypted")
_raw_case("unknown_compression_method", _patched_central_directory("method.zip", _unknown_method),
          "compression method 99")
_raw_case("symlink_members", _symlink_members, "no task.json")
_raw_case("absolute_and_parent_members", _absolute_members, "no task.json")
_raw_case("folder_with_symlink_outside", _folder_with_outside_link, "no task.json")
_raw_case("corrupt_member_data", _corrupt_member, "annotations.json")
_raw_case("missing_backup", lambda folder: folder / "nowhere.zip", "no such file or folder")
