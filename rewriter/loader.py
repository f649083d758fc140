"""Read articles as bytes, decode them without touching a single byte of layout.

No newline translation happens anywhere: CRLF, LF and mixed endings come back
exactly as they were when the text is encoded again with :meth:`Article.encode`.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

ARTICLE_SUFFIXES = (".txt", ".md", ".markdown")
BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class Article:
    path: Path
    raw: bytes
    text: str          # decoded, BOM removed; offsets of findings index into this
    encoding: str
    bom: bool

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.raw)

    @property
    def stem(self) -> str:
        return self.path.stem

    def encode(self, text: str) -> bytes:
        """Bytes for ``text`` in the article's own encoding, BOM included if it had one."""
        return (BOM if self.bom else b"") + text.encode(self.encoding)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode(raw: bytes, path: Path, encoding: str = "utf-8") -> Article:
    """Decode ``raw`` or raise an :class:`InputError` naming the file and the byte offset."""
    if not raw:
        raise InputError(f"{path}: file is empty; nothing to check")
    nul = raw.find(b"\x00")
    if nul != -1:
        raise InputError(f"{path}: binary data (NUL byte at offset {nul}); not a text article")
    codec = codecs.lookup(encoding).name
    bom = codec == "utf-8" and raw.startswith(BOM)
    body = raw[len(BOM):] if bom else raw
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(BOM) if bom else 0)
        hint = "try --encoding cp1252" if codec == "utf-8" else "try another --encoding"
        raise InputError(
            f"{path}: cannot decode as {encoding} at byte offset {offset} "
            f"(byte 0x{raw[offset]:02x}); {hint}"
        ) from None
    return Article(path=path, raw=raw, text=text, encoding=codec, bom=bom)


def load(path: str | os.PathLike, encoding: str = "utf-8") -> Article:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory; pass a file or use a folder argument") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode(raw, path, encoding)


def discover(paths: list[str | os.PathLike]) -> list[Path]:
    """Files named directly, and article files found recursively in folders, sorted, once each."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*")
                                if f.is_file() and f.suffix.lower() in ARTICLE_SUFFIXES))
        else:
            found.append(p)
    seen: set[Path] = set()
    unique = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def repo_root_of(path: str | os.PathLike) -> Path | None:
    """The root of the git repository holding ``path``: the nearest folder at or above it with ``.git``."""
    path = Path(path).resolve()
    return next((d for d in (path, *path.parents) if (d / ".git").exists()), None)


def atomic_write(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half a file.

    ``durable`` also flushes the data to disk before the rename, so not even a power cut
    loses it. Articles and decisions need that; regenerable output in out/ does not.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        # mkstemp makes 0600 files whatever the umask: give the file the mode it had, or the
        # mode a plain open() would have given it, so colleagues can read out/ and articles.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else _new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@functools.cache
def _new_file_mode() -> int:
    """0666 less the process umask, read without changing it (os.umask would race other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def atomic_write_text(path: str | os.PathLike, text: str, *, durable: bool = True) -> None:
    atomic_write(path, text.encode("utf-8"), durable=durable)
