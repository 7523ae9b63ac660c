"""Archive extraction refuses members that would escape the target directory."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from mgtranscript.errors import DownloadCorrupt, UnsafeArchiveError
from mgtranscript.fetch import safe_extract_tar, safe_extract_zip


def _tar(path, members, mode="w:gz"):
    with tarfile.open(path, mode) as tf:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tf.addfile(info)
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, data
                tf.addfile(info)
    return path


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_tar_good_members_extracted(tmp_path):
    arc = _tar(tmp_path / "ok.tar.gz", [("MANIFEST.txt", b"id\n", "file"),
                                        ("abc/file.tsv", b"x\t1\n", "file")])
    out = safe_extract_tar(arc, tmp_path / "out")
    assert sorted(p.name for p in out) == ["MANIFEST.txt", "file.tsv"]
    assert (tmp_path / "out/abc/file.tsv").read_bytes() == b"x\t1\n"


@pytest.mark.parametrize(
    "member",
    [("../evil.txt", b"pwned", "file"), ("abc/../../evil.txt", b"pwned", "file"),
     ("/tmp/evil_abs.txt", b"pwned", "file"), ("link", "/etc/passwd", "symlink"),
     ("hard", "../evil.txt", "hardlink")],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink"],
)
def test_tar_escaping_member_refused_nothing_written(tmp_path, member):
    arc = _tar(tmp_path / "bad.tar.gz", [("good.txt", b"fine", "file"), member])
    target = tmp_path / "a" / "out"
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        safe_extract_tar(arc, target)
    assert _files(target) == []  # not even the good member
    assert not (tmp_path / "a" / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_truncated_tar_is_corrupt(tmp_path):
    arc = _tar(tmp_path / "ok.tar.gz", [("f.txt", b"x" * 100000, "file")])
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) // 2])
    with pytest.raises(DownloadCorrupt):
        safe_extract_tar(arc, tmp_path / "out")


def test_zip_good_and_bad(tmp_path):
    good = tmp_path / "ok.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("d/a.txt", "hello")
    assert [p.name for p in safe_extract_zip(good, tmp_path / "out")] == ["a.txt"]
    assert (tmp_path / "out/d/a.txt").read_text() == "hello"

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr("../evil.txt", "pwned")
    with pytest.raises(UnsafeArchiveError):
        safe_extract_zip(bad, tmp_path / "z" / "out")
    assert not (tmp_path / "z" / "evil.txt").exists()
    assert _files(tmp_path / "z" / "out") == []

    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("ln")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="link"):
        safe_extract_zip(link, tmp_path / "l")
