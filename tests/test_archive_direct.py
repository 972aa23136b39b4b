"""archive.write_member_directly: the same archive bytes as zipfile's own ``writestr``."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from cvat_bridge import archive as archive_module
from cvat_bridge.archive import (
    BackgroundMember,
    OutputTree,
    atomic_output,
    can_write_directly,
    write_member_directly,
)


def _members() -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    noise = bytes(rng.getrandbits(8) for _ in range(70_000))  # incompressible: deflate grows it
    return [
        ("empty.txt", b""),
        ("a/b/labels.txt", b"cat\ndog\n"),
        ("masks/frame_000001.png", b"\x89PNG\r\n\x1a\n" + noise[:5000]),  # stored, not deflated
        ("nested/ünïcode name.txt", "größe: 3\n".encode()),  # UTF-8 flag on the name
        ("noise.bin", noise),
        ("text/big.xml", b"".join(b"<box xtl=\"%d\" ytl=\"1.5\" />\n" % i for i in range(40_000))),
        ("upper/CASE.PNG", noise[:100]),
    ]


def _fill(tree: OutputTree) -> None:
    """Direct members mixed with streamed ones (one past BackgroundMember's thread threshold)."""
    members = _members()
    for name, data in members[:3]:
        tree.write_bytes(name, data)
    with tree.open("streamed/small.txt") as stream:
        stream.write(b"small stream\n")
    for name, data in members[3:5]:
        tree.write_bytes(name, data)
    with tree.open_text("streamed/big.txt") as text:
        for i in range(3 * BackgroundMember.THRESHOLD // 20):
            text.write(f"line {i:08d} ...\n")
    for name, data in members[5:]:
        tree.write_bytes(name, data)
    (tree.folder / "images").mkdir()
    (tree.folder / "images" / "a.jpg").write_bytes(b"\xff\xd8" + bytes(300))


def _export(target: Path, *, direct: bool, monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as patch:
        if not direct:
            patch.setattr(archive_module, "can_write_directly", lambda archive: False)
        with atomic_output(target, overwrite=False, timestamp=1_700_000_000.0) as tree:
            assert tree._direct is direct  # the path under test is the one taken
            _fill(tree)
    return target.read_bytes()


def test_the_direct_path_writes_the_archive_writestr_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    direct = _export(tmp_path / "direct.zip", direct=True, monkeypatch=monkeypatch)
    usual = _export(tmp_path / "usual.zip", direct=False, monkeypatch=monkeypatch)
    assert direct == usual
    with zipfile.ZipFile(tmp_path / "direct.zip") as archive:
        assert archive.testzip() is None
        contents = {info.filename: archive.read(info) for info in archive.infolist()}
    for name, data in _members():
        assert contents[name] == data
    assert contents["images/a.jpg"].startswith(b"\xff\xd8")
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-tq", str(tmp_path / "direct.zip")], check=True, capture_output=True)


def test_single_members_match_writestr_byte_for_byte(tmp_path: Path) -> None:
    date = (2023, 11, 14, 22, 13, 20)
    paths = {}
    for how in ("writestr", "direct"):
        paths[how] = tmp_path / f"{how}.zip"
        with zipfile.ZipFile(paths[how], "w") as archive:
            assert can_write_directly(archive)
            for name, data in _members():
                info = archive_module._member(name, date)
                if how == "direct":
                    write_member_directly(archive, info, data)
                else:
                    archive.writestr(info, data)
    assert paths["direct"].read_bytes() == paths["writestr"].read_bytes()


def test_no_direct_member_while_a_stream_is_open(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        with archive.open("open.txt", "w"):
            with pytest.raises(ValueError):
                write_member_directly(archive, archive_module._member("b.txt", (2020, 1, 1, 0, 0, 0)), b"b")
        write_member_directly(archive, archive_module._member("c.txt", (2020, 1, 1, 0, 0, 0)), b"c")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.namelist() == ["open.txt", "c.txt"]
        assert archive.read("c.txt") == b"c"


def test_archives_that_cannot_seek_keep_writestr(tmp_path: Path) -> None:
    read, write = os.pipe()
    with open(write, "wb") as pipe, zipfile.ZipFile(pipe, "w") as archive:
        assert not can_write_directly(archive)
    os.close(read)
