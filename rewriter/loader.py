"""Read articles as bytes, decode them without touching a single byte of layout.

No newline translation happens anywhere: CRLF, LF, lone CR and mixed endings come
back exactly as they were when the text is encoded again with :meth:`Article.encode`,
and so does a UTF-8, UTF-16 or UTF-32 byte order mark.
"""

from __future__ import annotations

import codecs
import errno
import functools
import hashlib
import os
import itertools
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import InputError
from .text import shown_path

ARTICLE_SUFFIXES = (".txt", ".md", ".markdown")
BOM = codecs.BOM_UTF8
# Byte order marks and the codec each one selects; UTF-32 first, since BOM_UTF32_LE starts with
# BOM_UTF16_LE (an article never begins with U+0000, so FF FE 00 00 is UTF-32).
BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_BOM_OF = {codec: bom for bom, codec in BOMS}
# Encodings whose text holds NUL bytes by design: decoded before the binary-data check.
_WIDE = ("utf-16", "utf-32")


@dataclass(frozen=True)
class Article:
    path: Path
    raw: bytes
    text: str          # decoded, BOM removed; offsets of findings index into this
    encoding: str      # a codec name; UTF-16 and UTF-32 always with their byte order ("utf-16-le")
    bom: bool

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.raw)

    @property
    def stem(self) -> str:
        return self.path.stem

    def encode(self, text: str) -> bytes:
        """Bytes for ``text`` in the article's own encoding, BOM included if it had one."""
        return (_BOM_OF.get(self.encoding, b"") if self.bom else b"") + text.encode(self.encoding)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode(raw: bytes, path: Path, encoding: str = "utf-8") -> Article:
    """Decode ``raw`` or raise an :class:`InputError` naming the file and the byte offset.

    A UTF-8, UTF-16 or UTF-32 byte order mark decides the encoding whatever was asked (a file
    saved by Notepad as "Unicode" opens with no option); UTF-16 and UTF-32, asked for or marked,
    are decoded before the check for NUL bytes that refuses binary files. The BOM is removed from
    the text and put back by :meth:`Article.encode`.
    """
    name = shown_path(path)
    if not raw:
        raise InputError(f"{name}: file is empty; nothing to check")
    codec = codecs.lookup(encoding).name
    if codec == "utf-8-sig":
        codec = "utf-8"
    marked = next(((bom, c) for bom, c in BOMS if raw.startswith(bom)), None)
    # A UTF-16/32 BOM wins over any encoding asked; a UTF-8 one over a Unicode encoding only
    # (EF BB BF is "ï»¿" in cp1252, and a cp1252 article may well begin with it).
    if marked and (marked[1] != "utf-8" or codec == "utf-8" or codec.startswith(_WIDE)):
        bom, codec = marked
    else:
        bom = b""
        if codec in _WIDE:
            codec = _byte_order(raw, codec)
    if not codec.startswith(_WIDE):
        nul = raw.find(b"\x00")
        if nul != -1:
            raise InputError(f"{name}: binary data (NUL byte at offset {nul}); not a text article")
    body = raw[len(bom):]
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        offset = exc.start + len(bom)
        hint = "try --encoding cp1252" if codec == "utf-8" else "try another --encoding"
        raise InputError(
            f"{name}: cannot decode as {codec} at byte offset {offset} "
            f"(byte 0x{raw[offset]:02x}); {hint}"
        ) from None
    nul = text.find("\x00")
    if nul != -1:
        raise InputError(f"{name}: binary data (NUL character at character {nul}); not a text article")
    return Article(path=path, raw=raw, text=text, encoding=codec, bom=bool(bom))


def _byte_order(raw: bytes, codec: str) -> str:
    """"utf-16" or "utf-32" with no BOM: the byte order whose high bytes are mostly zero
    (text in Latin scripts), little-endian when it cannot tell, as Windows writes it."""
    width = 2 if codec == "utf-16" else 4
    sample = raw[:4096]
    low_first = sample[width - 1::width].count(0)    # zero high byte last: little-endian
    high_first = sample[0::width].count(0)
    return f"{codec}-{'be' if high_first > low_first else 'le'}"


def load(path: str | os.PathLike, encoding: str = "utf-8") -> Article:
    """Read and decode one article (see :func:`read_bytes` and :func:`decode`)."""
    path = Path(path)
    return decode(read_bytes(path), path, encoding)


def read_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a readable regular file, or an :class:`InputError` saying why not.

    The file is opened without blocking, so a named pipe or a device named like an article is
    refused rather than waited on.
    """
    path = Path(path)
    name = shown_path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{name}: {_unreadable(path, exc)}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{name}: is a directory; pass a file or use a folder argument")
        if not stat.S_ISREG(mode):
            raise InputError(f"{name}: not a regular file (a pipe, socket or device); not a text article")
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read()
    except OSError as exc:
        raise InputError(f"{name}: {_unreadable(path, exc)}") from None
    finally:
        if fd != -1:
            os.close(fd)


def _unreadable(path: Path, exc: OSError) -> str:
    """Why ``path`` cannot be read, in words: a link loop and a broken link are named as such."""
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (the link leads back to itself); fix or remove the link"
    if exc.errno == errno.ENOENT and path.is_symlink():
        return f"broken symbolic link (to {shown_path(os.readlink(path))}, which does not exist)"
    if exc.errno == errno.EISDIR:
        return "is a directory; pass a file or use a folder argument"
    return f"cannot read ({exc.strerror or exc})"


def discover(paths: list[str | os.PathLike], *,
             on_skip: Callable[[Path, str], None] | None = None) -> list[Path]:
    """Files named directly, and article files found recursively in folders, sorted, once each.

    Nothing here raises: a path that cannot be read is still listed, and :func:`load` gives its
    one-line error. Inside a folder, a symbolic link is followed only when it leads to a file
    inside that same folder; a link leading out of it (to a file or a folder) is left out, and
    ``on_skip(link, reason)`` says so (by default, one warning line on stderr), so a folder
    never makes `check` or `batch` read, or send to a model, a file it does not hold. Broken
    links and link loops named like articles are listed, and a subfolder that cannot be listed
    too, so each gets its error and the others go on. Folder links inside the folder are not
    followed: their files are found where they are.
    """
    if on_skip is None:
        on_skip = _warn_skipped
    found: list[Path] = []
    for p in map(Path, paths):
        try:
            is_dir = p.is_dir()
        except OSError:              # a name too long, a folder above it that cannot be searched
            is_dir = False
        found.extend(_walk(p, on_skip) if is_dir else [p])
    seen: set[str] = set()
    unique = []
    for f in found:
        key = os.path.realpath(f)   # never raises, loops included
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _walk(folder: Path, on_skip: Callable[[Path, str], None]) -> list[Path]:
    root = os.path.realpath(folder)
    found: list[Path] = []

    def inside(target: str) -> bool:
        return target == root or target.startswith(root.rstrip(os.sep) + os.sep)

    def cannot_list(exc: OSError) -> None:
        found.append(Path(exc.filename))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=cannot_list):
        dirnames.sort()             # the same walk, and the same warnings in the same order, everywhere
        filenames.sort()
        here = Path(dirpath)
        for d in dirnames:
            if os.path.islink(here / d) and not inside(os.path.realpath(here / d)):
                on_skip(here / d, f"link to a folder outside {shown_path(folder)} "
                                  f"({shown_path(os.path.realpath(here / d))}); not followed")
        for name in filenames:
            f = here / name
            if f.suffix.lower() not in ARTICLE_SUFFIXES:
                continue
            try:
                info = os.lstat(f)
            except OSError:
                found.append(f)
                continue
            if stat.S_ISLNK(info.st_mode):
                try:
                    target = os.path.realpath(f, strict=True)
                except OSError:             # broken or a loop: load() says which
                    found.append(f)
                    continue
                if not inside(target):
                    on_skip(f, f"link to a file outside {shown_path(folder)} ({shown_path(target)}); not read")
                    continue
                if not os.path.isfile(target):
                    continue                # a link to a folder inside: walked where it is
            elif not stat.S_ISREG(info.st_mode):
                found.append(f)             # a pipe or a device named like an article: load() refuses it
                continue
            found.append(f)
    return sorted(found)


def _warn_skipped(path: Path, reason: str) -> None:
    from .console import warn
    warn(f"{shown_path(path)}: {reason}")


def repo_root_of(path: str | os.PathLike) -> Path | None:
    """The root of the git repository holding ``path``: the nearest folder at or above it with ``.git``."""
    path = Path(path).resolve()
    return next((d for d in (path, *path.parents) if (d / ".git").exists()), None)


def atomic_write(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half a file.

    ``durable`` also flushes the data to disk before the rename, so not even a power cut
    loses it. Articles and decisions need that; regenerable output in out/ does not.
    The file keeps the mode it had, or gets the one a plain open() would give it (0666 less
    the umask), so colleagues can read out/ and articles.

    A batch writes about ten files an article, and each system call lets another thread take
    the interpreter, so this makes five (stat, open, write, close, rename) where
    ``tempfile.mkstemp`` and a file object made twelve.
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    try:
        mode, replacing = stat.S_IMODE(os.stat(path).st_mode), True
    except FileNotFoundError:
        mode, replacing = 0o666, False
    fd, tmp = _open_temporary(folder, name, mode)
    try:
        if replacing and mode & (_umask() | ~0o777):   # open() applied the umask and kept only rwx
            os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


_TEMPORARY = itertools.count()
_TOKEN = f"{os.getpid()}-{secrets.token_hex(4)}"


def _open_temporary(folder: str, name: str, mode: int) -> tuple[int, str]:
    """A new file beside the target, opened exclusively (never someone else's file, nor a link's
    target); the folder is made when missing. The name is unguessable without ``mkstemp``'s cost."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    for attempt in range(100):
        tmp = os.path.join(folder, f".{name}.{_TOKEN}-{next(_TEMPORARY)}.tmp")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
        except FileNotFoundError:
            if attempt:
                raise
            os.makedirs(folder or ".", exist_ok=True)
    raise FileExistsError(errno.EEXIST, "no free temporary name", folder)


@functools.cache
def _umask() -> int:
    """The process umask, read without changing it (os.umask would race other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write_text(path: str | os.PathLike, text: str, *, durable: bool = True) -> None:
    atomic_write(path, text.encode("utf-8"), durable=durable)
