"""archive.BackgroundMember: a big ZIP member compressed on a second thread, same bytes as a direct write."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from cvat_bridge.archive import BackgroundMember, OutputTree, atomic_output


def _chunks() -> list[bytes]:
    # enough to pass the threshold several times over, in pieces of uneven sizes
    return [(f"line {i}: " + "x" * (i % 97) + "\n").encode() * 50 for i in range(600)]


def test_a_big_member_is_the_same_as_written_directly(tmp_path: Path) -> None:
    chunks = _chunks()
    assert sum(map(len, chunks)) > 3 * BackgroundMember.THRESHOLD
    direct, threaded = tmp_path / "direct.zip", tmp_path / "threaded.zip"
    with zipfile.ZipFile(direct, "w") as archive, archive.open("a.txt", "w") as member:
        for chunk in chunks:
            member.write(chunk)
    with zipfile.ZipFile(threaded, "w") as archive, BackgroundMember(archive.open("a.txt", "w")) as member:
        for chunk in chunks:
            member.write(chunk)
    assert threaded.read_bytes() == direct.read_bytes()
    with zipfile.ZipFile(threaded) as archive:
        assert archive.testzip() is None
        assert archive.read("a.txt") == b"".join(chunks)


def test_text_streams_of_an_output_tree_keep_their_order(tmp_path: Path) -> None:
    text = "".join(f"{i}\n" for i in range(200_000))
    with atomic_output(tmp_path / "out.zip", overwrite=False, timestamp=0.0) as out:
        assert isinstance(out, OutputTree)
        with out.open_text("big.txt") as stream:
            for start in range(0, len(text), 10_000):
                stream.write(text[start:start + 10_000])
        out.write_text("small.txt", "after")
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert archive.namelist() == ["big.txt", "small.txt"]
        assert archive.read("big.txt").decode() == text


class _FailingMember(io.BytesIO):
    def __init__(self, fail_after: int) -> None:
        super().__init__()
        self.fail_after = fail_after

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.fail_after:
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_an_error_of_the_compressing_thread_reaches_the_writer() -> None:
    member = BackgroundMember(_FailingMember(fail_after=2 * BackgroundMember.THRESHOLD))
    with pytest.raises(OSError, match="No space left"):  # on a later write, or at the latest on close
        for chunk in _chunks():
            member.write(chunk)
        member.close()
    if not member.closed:
        with pytest.raises(OSError, match="No space left"):
            member.close()
    assert member.closed
