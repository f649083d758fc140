"""The run record: ``out/<stem>/report.json`` read back, checked, and the article it names found.

Everything that reads a run (review, apply) goes through :func:`load_report`,
which validates the file against ``schemas/report.json`` before any field is
used, so a damaged or crafted report is one clear line, never a traceback.
The report is not trusted about where the article is: :func:`find_article`
only returns a file inside the repository holding the out folder (or, outside
any repository, inside the folder that holds ``out/``).
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .emit import proposal_position
from .errors import ApplyError, InputError
from .loader import ARTICLE_SUFFIXES, repo_root_of, sha256_bytes
from .models import Finding, Proposal
from .resources import schema_errors

REPORT = "report.json"


@dataclass
class Run:
    """What ``rewriter run`` left in an output folder: the report, read back into plain data."""
    out_dir: Path
    report: dict[str, Any]
    findings: dict[str, Finding]
    proposals: list[Proposal]          # in article order

    @property
    def article_path(self) -> str:
        return self.report["article"]["path"]

    @property
    def sha256(self) -> str:
        return self.report["article"]["sha256"]

    @property
    def encoding(self) -> str:
        return self.report["article"]["encoding"]

    @property
    def absolute_path(self) -> str | None:
        """Absent from reports made before it was recorded."""
        return self.report["article"].get("absolute_path")

    @property
    def repo_path(self) -> str | None:
        """Absent from reports made before it was recorded."""
        return self.report["article"].get("repo_path")

    def proposal(self, change_id: str) -> Proposal | None:
        return next((p for p in self.proposals if p.id == change_id), None)

    @property
    def reviewable(self) -> list[Proposal]:
        return [p for p in self.proposals if p.changes_text]


def read_json_record(path: Path, schema: str, remedy: str, *, missing: str | None = None) -> Any:
    """The JSON in ``path``, valid against ``schemas/<schema>.json``, or an InputError in one line
    naming the file, what is wrong and ``remedy`` (what to do). ``missing``: the line for no file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: {missing or 'not found'}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); {remedy}") from None
    errors = schema_errors(data, schema, limit=1)
    if errors:
        raise InputError(f"{path}: does not match schemas/{schema}.json ({errors[0]}); {remedy}")
    return data


def load_report(out_dir: Path) -> Run:
    """Read and validate ``out_dir/report.json``, or raise an InputError naming the file and what is wrong."""
    out_dir = Path(out_dir)
    path = out_dir / REPORT
    report = read_json_record(path, "report", "run `rewriter run` again",
                              missing="not found; pass the out/<stem> folder of a `rewriter run`")
    try:
        codecs.lookup(report["article"]["encoding"])
    except LookupError:
        raise InputError(f"{path}: unknown encoding {report['article']['encoding']!r} at $.article.encoding; "
                         "run `rewriter run` again") from None
    for where in ("findings", "claims"):
        for i, f in enumerate(report[where]):
            if f["end"] - f["start"] != len(f["text"]):   # what the schema cannot say: a span is its text
                raise InputError(f"{path}: at $.{where}[{i}]: start {f['start']} and end {f['end']} do not "
                                 f"span its text; run `rewriter run` again")
    findings = {f["id"]: Finding.from_dict(f) for f in report["findings"] + report["claims"]}
    proposals = [Proposal.from_dict(p) for p in report["proposals"]]
    return Run(out_dir, report, findings, sorted(proposals, key=lambda p: proposal_position(findings, p)))


def article_root(run: Run) -> Path:
    """Where the article must be: the repository holding the out folder, else the folder holding ``out/``."""
    return repo_root_of(run.out_dir) or run.out_dir.resolve().parent.parent


def _inside(path: Path, root: Path) -> bool:
    real = path.resolve()
    return real.is_relative_to(root.resolve()) and ".git" not in real.relative_to(root.resolve()).parts


def find_article(run: Run, repo_root: Path | None = None) -> Path | None:
    """Where the article is now, wherever apply or review is run from; None when it is nowhere.

    Looked for, in order: the run's ``repo_path`` under ``repo_root``, the
    repository holding the out folder, then the one holding the cwd (so a run
    copied into another clone applies to that clone); its ``absolute_path``; the
    path as typed, from the cwd, from ``repo_root``, and from the folder above
    ``out/``. Only places inside ``repo_root`` (default :func:`article_root`)
    count, outside ``.git``: a report naming only other places is refused with
    an ApplyError. Among the places that exist, the first whose bytes still
    match the run wins, else the first.
    """
    given = Path(run.article_path)
    places = []
    if run.repo_path:
        roots = [Path(repo_root)] if repo_root else []
        roots += [root for root in (repo_root_of(run.out_dir), repo_root_of(Path.cwd())) if root]
        places += [root / run.repo_path for root in roots]
    if run.absolute_path:
        places.append(Path(run.absolute_path))
    if given.is_absolute():
        places.append(given)
    else:
        bases = [Path.cwd()] + ([Path(repo_root)] if repo_root else []) + [run.out_dir.resolve().parent.parent]
        places += [base / given for base in bases]
    existing = [p for p in dict.fromkeys(places) if p.is_file()]
    root = Path(repo_root) if repo_root else article_root(run)
    allowed = [p for p in existing if _inside(p, root)]
    if existing and not allowed:
        raise ApplyError(f"{run.out_dir / REPORT} names {existing[0].resolve()} as the article, outside {root}; "
                         "apply and review only touch a file inside the repository holding the out folder "
                         "(or the folder above out/): refused")
    articles = [p for p in allowed if p.suffix.lower() in ARTICLE_SUFFIXES]
    if allowed and not articles:
        raise ApplyError(f"{run.out_dir / REPORT} names {allowed[0]} as the article; apply and review only touch "
                         f"articles ({', '.join(ARTICLE_SUFFIXES)} files), never a Makefile, a workflow or code: refused")
    allowed = articles
    for p in allowed:
        try:
            if sha256_bytes(p.read_bytes()) == run.sha256:
                return p
        except OSError:
            continue
    return allowed[0] if allowed else None
