"""Where each article's results go under ``--out``: one function, for `run` and `batch` alike.

A file name is data written by someone else: ``...txt`` has the stem ``..``, ``summary.json.txt``
the stem ``summary.json``, and names may hold control, bidi or path characters. So an output
folder's name is made of :func:`safe_part` components only, which never leave ``--out``, never
take the name of a file ``--out`` holds itself, and never collide with another article's folder,
even on a disk that ignores case or Unicode normalisation.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path, PurePath

# Files at the top of --out that are not an article's folder (README.md ships in the repository's out/).
RESERVED = frozenset({"summary.json", "readme.md"})
# Names Windows gives to devices, with or without an extension.
_DEVICE = re.compile(r"(?:con|prn|aux|nul|com[0-9]|lpt[0-9])(?:\..*)?")
MAX_BYTES = 200   # well under the 255 bytes a file name may take, leaving room for "~2" and the like


def safe_part(name: str) -> str:
    """``name`` as one path component that stays where it is put.

    Control, format and bidi characters, lone surrogates (undecodable bytes) and path separators
    become ``_``; trailing dots and spaces go (Windows drops them); a name that is empty, all dots,
    reserved or a Windows device name gets a ``_`` in front; long names are cut.
    """
    if name.isascii() and name.isprintable() and "/" not in name and "\\" not in name:
        part = name        # printable ASCII holds no control character: nothing to replace
    else:
        part = "".join("_" if c in "/\\" or unicodedata.category(c)[0] == "C" or c in "\u2028\u2029" else c
                       for c in name)
    part = part.rstrip(" .")
    folded = _key(part)
    if not part.strip(" .") or folded in RESERVED or _DEVICE.fullmatch(folded):
        part = "_" + part
    data = part.encode("utf-8")
    if len(data) > MAX_BYTES:
        part = data[:MAX_BYTES].decode("utf-8", "ignore").rstrip(" .")
    return part


def _key(name: str) -> str:
    """What a case-insensitive, normalising disk (macOS, Windows) sees as the same name."""
    return unicodedata.normalize("NFC", name).casefold()


def output_names(paths: list[Path], folder: Path | None = None) -> dict[Path, str]:
    """Each article's folder below ``--out``, as a relative POSIX path.

    Its stem, as with `rewriter run`, unless two articles share a stem (``a/x.txt``, ``b/x.txt``,
    ``x.md``; compared as a case-insensitive disk would): then its path below ``folder``, suffix
    included. Every component is a :func:`safe_part`; should two names still meet, or one folder
    fall inside another's, the later one gets ``~2``, ``~3``… so none is an ancestor of another.
    """
    stems = Counter(_key(safe_part(p.stem)) for p in paths)
    preferred: dict[Path, tuple[str, ...]] = {}
    for p in paths:
        if stems[_key(safe_part(p.stem))] == 1:
            parts: tuple[str, ...] = (p.stem,)
        else:
            try:
                parts = p.relative_to(folder).parts if folder is not None else (p.name,)
            except ValueError:
                parts = (p.name,)
        preferred[p] = tuple(safe_part(part) for part in parts) or ("_",)
    keys = {p: tuple(map(_key, parts)) for p, parts in preferred.items()}
    # Folders that hold other articles' folders: no article's own results may go there.
    ancestors = {key[:i] for key in keys.values() for i in range(1, len(key))}
    used: set[tuple[str, ...]] = set()
    names = {}
    for p in paths:
        parts, n = preferred[p], 1
        candidate = parts
        while (key := tuple(map(_key, candidate))) in used or key in ancestors:
            n += 1
            candidate = (*parts[:-1], f"{parts[-1]}~{n}")
        used.add(key)
        names[p] = PurePath(*candidate).as_posix()
    return names


def output_name(path: Path) -> str:
    """The folder below ``--out`` of one article run on its own (`rewriter run`)."""
    return output_names([path])[path]


def check_writable(out_root: Path) -> None:
    """Create ``out_root`` if need be and prove a file can be written there, before any work is done.

    Raises :class:`~rewriter.errors.OutputError` with one line otherwise: a folder without write
    permission, or a path that runs through a regular file.
    """
    import tempfile

    from .errors import OutputError

    try:
        out_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_root, prefix=".rewriter-probe-"):
            pass
    except OSError as exc:
        reason = "it is a file, not a folder" if isinstance(exc, FileExistsError) else exc.strerror or exc
        raise OutputError(f"{out_root}: cannot write results there ({reason}); "
                          "choose another --out folder") from None


def check_inside(out_root: Path, out_dir: Path) -> None:
    """Refuse an article's output folder, or its ``evidence/``, that a link takes out of ``out_root``:
    a crafted ``out/<stem> -> ~/somewhere`` would otherwise receive every file of the run."""
    from .errors import OutputError

    root = out_root.resolve()
    for folder in (out_dir, out_dir / "evidence"):
        if folder.is_symlink() or (folder.exists() and not folder.resolve().is_relative_to(root)):
            raise OutputError(f"{folder}: is a link (to {folder.resolve()}); results are only written inside "
                              f"{out_root}: remove the link, or choose another --out folder")
