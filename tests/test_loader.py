"""Reading and writing articles: every byte kept, errors that name the file and the offset."""

from __future__ import annotations

import os
import stat

import pytest

from rewriter.errors import InputError
from rewriter.loader import atomic_write, decode, load


def test_new_files_get_the_umask_mode_and_replaced_files_keep_theirs(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.txt", b"x")
        assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644
        kept = tmp_path / "kept.txt"
        kept.write_bytes(b"old")
        kept.chmod(0o640)
        atomic_write(kept, b"new", durable=False)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_bytes() == b"new"
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        os.umask(old)


@pytest.mark.parametrize("raw", [
    b"\xef\xbb\xbfTitre\r\nCorps\nFin sans saut",
    "Café\r\n\r\n".encode("utf-8"),
])
def test_decode_then_encode_gives_back_every_byte(tmp_path, raw):
    article = decode(raw, tmp_path / "a.txt")
    assert article.encode(article.text) == raw
    assert not article.text.startswith("\ufeff")


def test_errors_name_the_file_the_offset_and_what_to_try(tmp_path):
    (tmp_path / "latin.txt").write_bytes("Caf\xe9".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin.txt: cannot decode as utf-8 at byte offset 3 .*try --encoding cp1252"):
        load(tmp_path / "latin.txt")
    assert load(tmp_path / "latin.txt", "cp1252").text == "Café"
    (tmp_path / "bin.txt").write_bytes(b"PK\x03\x04\x00")
    with pytest.raises(InputError, match=r"bin.txt: binary data \(NUL byte at offset 4\)"):
        load(tmp_path / "bin.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(InputError, match="empty.txt: file is empty"):
        load(tmp_path / "empty.txt")

