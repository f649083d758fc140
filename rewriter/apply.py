"""Write the accepted changes to the article: the only code that touches ``articles/``.

It refuses when the article's bytes differ from those the run saw (sha256 in
the report), writes through a temporary file and a rename, and can commit:

* ``commit=True``: one ordinary ``git commit`` of just the article, refused
  when the article has uncommitted changes (the commit must hold only what
  the reviewer accepted). Everything that can be checked (a repository, the
  article tracked, no uncommitted change, no merge in progress, an identity)
  is checked before the article is written.
* ``branch=NAME``: one commit per change on ``NAME`` (created from HEAD if
  needed), built with git plumbing so the checkout, the index and the current
  branch are left exactly as they were; each commit can be reverted alone.

The two exclude each other. The article is only looked for inside the
repository holding the out folder (see :func:`record.find_article`). An apply
cut off after writing the article (``kill -9`` during a pre-commit hook) is
recognised on the next one: the article then holds exactly the run's bytes
with the accepted edits, and the commit that landed is recorded, or made.

Paths go to and come from git as they are: never
quoted (``core.quotePath=false``, ``-z``) nor read as glob patterns
(``--literal-pathspecs``), so ``articles/été 2024 — bilan.txt`` works.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from .emit import Edit, context_diff, plan_edits, splice
from .errors import ApplyError, OutputError
from .loader import atomic_write, decode, sha256_bytes
from .models import NEEDS_HUMAN, REPLACE, Proposal, line_col
from .record import Run, find_article, load_report
from .review import REVIEWER_LABEL, Decisions
from .terminal import printable


@dataclass
class ApplyResult:
    """What apply did, for the CLI to print."""
    name: str                                                # the article path as the report gives it
    path: Path
    old_text: str
    new_text: str
    edits: list[Edit] = field(default_factory=list)          # applied, in article order
    skipped: dict[str, str] = field(default_factory=dict)    # change id -> why it was not applied
    outdated: list[str] = field(default_factory=list)        # decided on a proposal since changed
    commits: list[str] = field(default_factory=list)
    branch: str | None = None
    wrote: bool = False                                      # the file in the checkout was written
    resumed: bool = False    # the article already held these changes: an earlier apply was interrupted
    after_apply: bool = False   # ... or a plain apply wrote them, and this --commit commits them
    assets: list[str] = field(default_factory=list)          # figures copied beside the article

    def word_diff(self) -> list[str]:
        """One line per applied change: where, and its words before and after (safe for a terminal)."""
        return [printable(f"{e.change_id} line {line_col(self.old_text, e.start + len(e.old) - len(e.old.lstrip(chr(13) + chr(10))))[0]}: "
                f"{context_diff(self.old_text, e.start, e.end, e.new)}") for e in self.edits]


def _short(text: str, width: int = 32) -> str:
    text = " ".join(text.split())
    return f"«{text if len(text) <= width else text[:width - 1] + '…'}»"


def _what(edit: Edit) -> str:
    if not edit.new:
        return f"delete {_short(edit.old)}"
    if not edit.old:
        return f"insert {_short(edit.new)}"
    return f"replace {_short(edit.old)} with {_short(edit.new)}"


def _paragraph(run: Run, edit: Edit, p: Proposal, edited: bool) -> str:
    f = run.findings[p.finding_id]
    how = REVIEWER_LABEL if edited else f"{p.status}, confidence {p.confidence:.2f}"
    head = f"{edit.change_id} ({f.kind}, line {f.line}; {how}): {_what(edit)}"
    typed = " Text typed by the reviewer to fill the gap." if p.status == NEEDS_HUMAN else " Replacement edited by the reviewer."
    body = p.rationale + (typed if edited else "")
    return "\n".join([head] + textwrap.wrap(" ".join(body.split()), 72))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _trailers(run: Run, items: list[tuple[Edit, Proposal]], edited: set[str],
              reviewer_sources: dict[str, str], reviewed_by: str | None) -> str:
    """Full values, never cut: each change, its new text, each source's URL (or library path) and quote."""
    lines = []
    for e, p in items:
        lines.append(f"Rewriter-Change: {e.change_id}")
        lines.append(f"Rewriter-Text: {_one_line(e.new) or '(deleted)'}")
        if e.change_id in edited:
            lines.append(f"Rewriter-Provenance: {REVIEWER_LABEL}")
            if reviewer_sources.get(e.change_id):
                lines.append(f"Source: {_one_line(reviewer_sources[e.change_id])}")
            continue
        for s in p.sources:
            where = s.url or (s.location or {}).get("evidence") or s.title
            if where:
                lines.append(f"Source: {_one_line(str(where))}")
            if s.quote:
                lines.append(f"Source-Quote: {_one_line(s.quote)}")
    seen: set[str] = set()   # a source several changes rest on is named once
    lines = [line for line in lines if not line.startswith("Source") or not (line in seen or seen.add(line))]
    model = run.report.get("usage", {}).get("model")
    if model:
        lines.append(f"Rewriter-Model: {model}")
    if reviewed_by:
        lines.append(f"Reviewed-by: {reviewed_by}")
    return "\n".join(lines)


def commit_message(run: Run, file: str, items: list[tuple[Edit, Proposal]], edited: set[str],
                   reviewer_sources: dict[str, str] | None = None, reviewed_by: str | None = None) -> str:
    """Summary line, one paragraph per change (id, what, rationale), then trailers."""
    if len(items) == 1:
        summary = f"{file}: {_what(items[0][0])}"
    else:
        summary = f"{file}: apply {len(items)} reviewed corrections"
    paragraphs = [_paragraph(run, e, p, e.change_id in edited) for e, p in items]
    trailers = _trailers(run, items, edited, reviewer_sources or {}, reviewed_by)
    return "\n\n".join([summary, *paragraphs, trailers]) + "\n"


def _reviewer(path: Path) -> str | None:
    """``Name <email>`` from git's user.name and user.email, for the Reviewed-by: trailer."""
    name = _out(_git(path.parent, "config", "user.name", check=False))
    email = _out(_git(path.parent, "config", "user.email", check=False))
    return f"{name} <{email}>" if name and email else (name or None)


# --- git -----------------------------------------------------------------------

def _git(root: Path, *args: str, data: bytes | None = None, env: dict | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", "-C", str(root), "-c", "core.quotePath=false", "--literal-pathspecs", *args],
                          input=data, capture_output=True, env=env)
    if check and proc.returncode:
        raise ApplyError(f"git {args[0]} failed: {_last_error(proc)}")
    return proc


def _last_error(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return err[-1] if err else f"exit {proc.returncode}"


def _out(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout.decode("utf-8", "replace").strip()


def _tracked(path: Path, name: str) -> tuple[Path, str]:
    """The repository root and the article's path in it; refuse an article git does not track."""
    proc = _git(path.parent, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode:
        raise ApplyError(f"{name} is not inside a git repository; apply without --commit/--branch")
    root = Path(os.fsdecode(proc.stdout.rstrip(b"\n")))
    proc = _git(path.parent, "ls-files", "-z", "--full-name", "--error-unmatch", "--", path.name, check=False)
    if proc.returncode:
        raise ApplyError(f"{name} is not tracked by git; `git add` and commit it first, "
                         "or apply without --commit/--branch")
    return root, os.fsdecode(proc.stdout.split(b"\0")[0])


def _ready_to_commit(path: Path, name: str, *, written: bool = False) -> tuple[Path, str]:
    """Every check ``git commit`` of the article could fail, made before the article is written.

    ``written``: the article already holds the accepted changes (an interrupted apply wrote it),
    so its uncommitted changes are the very ones to commit.
    """
    root, rel = _tracked(path, name)
    for head, what in (("MERGE_HEAD", "merge"), ("CHERRY_PICK_HEAD", "cherry-pick"), ("REVERT_HEAD", "revert")):
        if _git(root, "rev-parse", "-q", "--verify", head, check=False).returncode == 0:
            raise ApplyError(f"a {what} is in progress in {root}; finish or abort it first, then apply --commit")
    diff = _git(root, "diff", "--quiet", "HEAD", "--", rel, check=False)
    if diff.returncode == 1:
        if not written:
            raise ApplyError(f"{name} has uncommitted changes in git; commit or stash them first, "
                             "so that the commit holds only the accepted changes")
    elif diff.returncode:
        raise ApplyError(f"git diff failed: {_last_error(diff)}; --commit needs a commit that holds {name}")
    for who in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
        proc = _git(root, "var", who, check=False)
        if proc.returncode:
            raise ApplyError(f"git cannot commit as you ({_last_error(proc)}); "
                             "set user.name and user.email, then apply again")
    return root, rel


def _commit_in_checkout(root: Path, rel: str, name: str, message: str, assets: list[str] = ()) -> list[str]:
    """Commit the article, already written and checked by :func:`_ready_to_commit` (with its
    figures, ``assets``, paths from the repository root)."""
    if assets:
        _git(root, "add", "--", *assets)
    proc = _git(root, "commit", "-q", "-F", "-", "--", rel, *assets, data=message.encode("utf-8"), check=False)
    if proc.returncode:
        raise ApplyError(f"wrote {name} but git commit failed ({_last_error(proc)}); "
                         f"commit it yourself, or `git checkout -- {shlex.quote(rel)}` to undo")
    return [_out(_git(root, "rev-parse", "HEAD"))]


def _commit_on_branch(path: Path, name: str, branch: str, run: Run, versions: list[tuple[bytes, str]],
                      applied_sha: str | None) -> list[str]:
    """Commit each version of the article in turn on ``branch``, touching no checkout or index."""
    root, rel = _tracked(path, name)
    if _git(root, "check-ref-format", "--branch", branch, check=False).returncode:
        raise ApplyError(f"--branch {branch!r} is not a valid branch name")
    ref = f"refs/heads/{branch}"
    if _out(_git(root, "symbolic-ref", "-q", "HEAD", check=False)) == ref:
        raise ApplyError(f"you are on {branch}; use --commit to commit there, or name a new review branch")
    elsewhere = _worktree_on(root, ref)
    if elsewhere:
        raise ApplyError(f"{branch} is checked out in the worktree {elsewhere}; committing on it would "
                         "change that worktree under its feet: name another --branch, or apply --commit there")
    existing = _git(root, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
    base = _out(existing) if existing.returncode == 0 else None
    parent = base or _out(_git(root, "rev-parse", "--verify", "HEAD^{commit}", check=False))
    if not parent:
        raise ApplyError(f"--branch needs a commit to start {branch} from; commit {name} first")
    listing = _out(_git(root, "ls-tree", parent, "--", rel)).split()
    blob = _git(root, "cat-file", "blob", f"{parent}:{rel}", check=False)
    if not listing or blob.returncode:
        raise ApplyError(f"{name} is not in the last commit of {branch if base else 'HEAD'}; commit it first")
    if sha256_bytes(blob.stdout) != run.sha256:
        if applied_sha and sha256_bytes(blob.stdout) == applied_sha:
            raise ApplyError(f"these changes are already on {branch}; nothing to do")
        raise ApplyError(f"{name} in the last commit of {branch if base else 'HEAD'} differs from the "
                         "bytes of the run; commit or stash your edits, or name another --branch")
    commits = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(root, "read-tree", parent, env=env)
        for data, message in versions:
            obj = _out(_git(root, "hash-object", "-w", "--no-filters", "--stdin", data=data))
            _git(root, "update-index", "--cacheinfo", f"{listing[0]},{obj},{rel}", env=env)
            tree = _out(_git(root, "write-tree", env=env))
            parent = _out(_git(root, "commit-tree", tree, "-p", parent, "-F", "-",
                               data=message.encode("utf-8")))
            commits.append(parent)
    _git(root, "update-ref", "-m", f"rewriter apply {run.out_dir}", ref, parent, base or "")
    return commits


def _worktree_on(root: Path, ref: str) -> str | None:
    """The worktree that has ``ref`` checked out, as ``git worktree list`` names it, or None."""
    where = None
    for entry in _git(root, "worktree", "list", "--porcelain", "-z", check=False).stdout.split(b"\0"):
        if entry.startswith(b"worktree "):
            where = os.fsdecode(entry[len(b"worktree "):])
        elif entry == b"branch " + os.fsencode(ref):
            return where
    return None


def _original_in_git(path: Path, sha256: str) -> bytes | None:
    """The run's bytes of the article from HEAD or HEAD~1, if git tracks it there.

    An ``apply --commit`` killed after writing the article leaves them at HEAD (the
    commit was not made) or at HEAD~1 (the commit landed, say after a slow hook).
    """
    proc = _git(path.parent, "ls-files", "-z", "--full-name", "--error-unmatch", "--", path.name, check=False)
    if proc.returncode:
        return None
    rel = os.fsdecode(proc.stdout.split(b"\0")[0])
    for rev in ("HEAD", "HEAD~1"):
        blob = _git(path.parent, "cat-file", "blob", f"{rev}:{rel}", check=False)
        if blob.returncode == 0 and sha256_bytes(blob.stdout) == sha256:
            return blob.stdout
    return None


# --- apply -----------------------------------------------------------------------

def _changed(run: Run, now: str) -> ApplyError:
    return ApplyError(f"{run.article_path} changed since the run (sha256 {now[:12]}… now, {run.sha256[:12]}… "
                      f"then); run `rewriter run {run.article_path}` again")


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ApplyError(f"cannot read {name} ({exc.strerror or exc}); nothing was changed: "
                         "make it readable, then apply again") from None


def _write(path: Path, name: str, data: bytes) -> None:
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise ApplyError(f"cannot write {name} ({exc.strerror or exc}); the article is untouched: it is "
                         "replaced through a temporary file beside it, so make its folder writable, "
                         "then apply again") from None


def _run_bytes(run: Run, decisions: Decisions, path: Path, *, commit: bool = False) -> tuple[bytes, bytes | None]:
    """The article's bytes as the run saw them, and its present bytes when they differ (else None).

    ``commit``: a plain apply already wrote the changes and nothing committed them; they are then
    the very changes to commit (the run's bytes come from git)."""
    now = _read(path, run.article_path)
    if sha256_bytes(now) == run.sha256:
        return now, None
    applied = decisions.applied
    if applied and applied["sha256"] == sha256_bytes(now) and not (commit and not applied["commits"]):
        raise ApplyError(f"{run.article_path} already has these changes applied; nothing to do")
    original = _original_in_git(path, run.sha256)
    if original is None:
        raise _changed(run, sha256_bytes(now))
    return original, now


def _check_writable(path: Path, name: str) -> None:
    """A read-only article is protected on purpose: never replace it behind the owner's back."""
    # The mode bits, not os.access: root may write anything, but a 0444 file still says "don't".
    if not path.stat().st_mode & 0o222 or not os.access(path, os.W_OK):
        raise ApplyError(f"{name} is read-only; make it writable (chmod u+w) if it may be changed, "
                         "or use --branch, which leaves the file alone")


def apply(out_dir: Path, *, commit: bool = False, branch: str | None = None,
          repo_root: Path | None = None, dry_run: bool = False, assets: str = "figures") -> ApplyResult:
    """Apply the accepted changes of ``out_dir`` to its article; see the module docstring."""
    if commit and branch:
        raise ValueError("commit and branch exclude each other: commit in the checkout, or on a branch")
    out_dir = Path(out_dir)
    run = load_report(out_dir)
    decisions = Decisions.load(out_dir, run)
    if not decisions.exists:
        raise ApplyError(f"{out_dir}: no decisions yet; run `rewriter review {out_dir}` first")
    if decisions.stale_sha:
        raise ApplyError(f"{decisions.path} was made for other article bytes than this run; "
                         f"run `rewriter review {out_dir}` again")
    name = run.article_path
    path = find_article(run, repo_root)
    if path is None:
        raise ApplyError(f"{name} not found; run apply from the folder where you ran `rewriter run`")
    raw, now = _run_bytes(run, decisions, path, commit=commit and not dry_run)
    article = decode(raw, path, run.encoding)
    accepted = decisions.accepted()
    chosen = []
    for p in run.proposals:
        if p.id in accepted:
            own = accepted[p.id]
            chosen.append(p if own is None else dataclasses.replace(p, action=REPLACE, replacement=own))
    chosen = _in_assets_folder(chosen, assets)
    plan = plan_edits(run.findings, chosen, text=article.text)
    figures = _figure_assets(out_dir, chosen, plan, path, assets, branch)
    result = ApplyResult(name, path, article.text, article.text, plan.edits, plan.skipped,
                         decisions.outdated(), branch=branch)
    result.new_text = splice(article.text, [(e.start, e.end, e.new) for e in plan.edits])
    new = article.encode(result.new_text)
    if now is not None and (not plan.edits or now != new):
        raise _changed(run, sha256_bytes(now))
    if not plan.edits or dry_run:
        return result
    by_id = {p.id: p for p in chosen}
    edited = {cid for cid, own in accepted.items() if own is not None}
    items = [(e, by_id[e.change_id]) for e in plan.edits]
    sources = {cid: e["source"] for cid in edited if (e := decisions.entry(cid)) and e.get("source")}
    reviewed_by = _reviewer(path)

    def message(of: list[tuple[Edit, Proposal]]) -> str:
        return commit_message(run, path.name, of, edited, sources, reviewed_by)

    if now is not None:
        result.after_apply = bool(decisions.applied)
        return _finish_interrupted(result, decisions, commit, message(items), figures)
    if branch:
        versions = [(article.encode(splice(article.text, [(e.start, e.end, e.new) for e in plan.edits[:i]])),
                     message([(e, by_id[e.change_id])]))
                    for i, e in enumerate(plan.edits, 1)]
        applied = decisions.applied["sha256"] if decisions.applied else None
        result.commits = _commit_on_branch(path, name, branch, run, versions, applied)
    elif commit:
        root, rel = _ready_to_commit(path, name)
        _check_writable(path, name)
        result.assets = _copy_assets(figures, root)
        _write(path, name, new)
        result.wrote = True
        try:
            result.commits = _commit_in_checkout(root, rel, name, message(items), result.assets)
        except ApplyError:   # a hook said no: the article is written all the same, so say so
            _mark_applied(decisions, name, sha256_bytes(new), [], None)
            raise
    else:
        _check_writable(path, name)
        result.assets = _copy_assets(figures, None)
        _write(path, name, new)
        result.wrote = True
    _mark_applied(decisions, name, sha256_bytes(new), result.commits, branch)
    return result


# ---------------------------------------------------------------- figures (rewriter/figures.py)

def _in_assets_folder(chosen: list[Proposal], folder: str) -> list[Proposal]:
    from .figures import in_folder

    return [in_folder(p, folder) for p in chosen]


def _figure_assets(out_dir: Path, chosen: list[Proposal], plan, path: Path, folder: str,
                   branch: str | None) -> list[tuple[Path, Path]]:
    """(figure in the out folder, where it goes) for each accepted change applied that shows one."""
    from .figures import assets_for

    found = assets_for(out_dir, [p for p in chosen if p.id not in plan.skipped], path, folder)
    if found and branch:
        raise ApplyError(f"{len(found)} accepted chart file(s) cannot go on a branch yet; "
                         "apply --commit (or without --branch), which commits them with the article")
    return found


def _copy_assets(assets: list[tuple[Path, Path]], root: Path | None) -> list[str]:
    """Copy the figures beside the article; their paths (from ``root`` when given, for git)."""
    from .figures import copy_assets

    written = copy_assets(assets)
    return [d.resolve().relative_to(root.resolve()).as_posix() if root else d.as_posix() for d in written]


def _mark_applied(decisions: Decisions, name: str, sha256: str, commits: list[str], branch: str | None) -> None:
    try:
        decisions.mark_applied(sha256, commits, branch)
    except OutputError as exc:
        raise ApplyError(f"{name} is done, but {exc}; a later apply recognises the article and records it") from None


def _finish_interrupted(result: ApplyResult, decisions: Decisions, commit: bool, message: str,
                        figures: list[tuple[Path, Path]] = ()) -> ApplyResult:
    """The article holds exactly the accepted changes: an earlier apply was cut off after writing it
    (``kill -9`` during a pre-commit hook, say). Record what it did; commit if asked and not done yet."""
    result.resumed = True
    path, name, sha = result.path, result.name, sha256_bytes(result.path.read_bytes())
    root, rel = _tracked(path, name)
    head = _git(root, "cat-file", "blob", f"HEAD:{rel}", check=False)
    if head.returncode == 0 and sha256_bytes(head.stdout) == sha:
        log = _out(_git(root, "log", "-1", "--format=%B", "HEAD"))
        if all(f"Rewriter-Change: {e.change_id}" in log for e in result.edits):
            result.commits = [_out(_git(root, "rev-parse", "HEAD"))]
    elif commit:
        root, rel = _ready_to_commit(path, name, written=True)
        result.assets = _copy_assets(figures, root)      # the plain apply before copied them: same bytes
        result.commits = _commit_in_checkout(root, rel, name, message, result.assets)
    _mark_applied(decisions, name, sha, result.commits, None)
    return result
