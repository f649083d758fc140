"""The project's plain files: JSON Schemas in ``schemas/`` and prompt templates in ``prompts/``."""

from __future__ import annotations

import functools
import json
import string
import sys
from pathlib import Path
from typing import Any

import jsonschema

from .precheck import compile_precheck


def _root() -> Path:
    """The folder holding prompts/ and schemas/: the source checkout (also an editable install),
    or ``<prefix>/share/rewriter`` where a regular install puts them (pyproject's data-files)."""
    checkout = Path(__file__).resolve().parent.parent
    for root in (checkout, Path(sys.prefix) / "share" / "rewriter"):
        if (root / "prompts").is_dir() and (root / "schemas").is_dir():
            return root
    return checkout


ROOT = _root()
SCHEMAS = ROOT / "schemas"
PROMPTS = ROOT / "prompts"


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """``schemas/<name>.json`` as a dict (cached; treat it as read-only)."""
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


@functools.cache
def _validator(name: str) -> tuple[jsonschema.protocols.Validator, Any]:
    schema = load_schema(name)
    jsonschema.validators.validator_for(schema).check_schema(schema)     # the project's own: checked once
    return _validator_of(schema_text(schema))


def _errors(checkers: tuple[jsonschema.protocols.Validator, Any], instance: Any, limit: int) -> list[str]:
    validator, precheck = checkers
    if precheck is not None and precheck(instance):
        return []          # jsonschema would find nothing (rewriter/precheck.py), at an eighth of the cost
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [f"at {e.json_path}: {e.message}" for e in errors[:limit]]


def schema_errors(instance: Any, name: str, limit: int = 10) -> list[str]:
    """Validation errors of ``instance`` against ``schemas/<name>.json``, each with its JSON path."""
    return _errors(_validator(name), instance, limit)


def errors_against(instance: Any, schema: dict[str, Any], limit: int = 10) -> list[str]:
    """The same, against a schema given as a dict (e.g. one a caller built)."""
    return _errors(_validator_of(schema_text(schema)), instance, limit)


@functools.lru_cache(maxsize=256)
def _validator_of(schema_text: str) -> tuple[jsonschema.protocols.Validator, Any]:
    """One validator (and pre-check) per schema, built from its canonical text (so a caller changing
    its dict afterwards cannot change a cached validator): building one cost more than most checks."""
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER), compile_precheck(schema)


_TEXTS: dict[int, tuple[Any, Any, str]] = {}    # id(schema) -> (schema, a deep copy, its canonical text)
_TEXTS_MAX = 256


def schema_text(schema: Any) -> str:
    """``json.dumps(schema, sort_keys=True)``, remembered for the same dict while it stays equal to
    what it was: the stages pass the same few schemas thousands of times, and comparing a dict with
    a copy costs a few percent of encoding it."""
    seen = _TEXTS.get(id(schema))
    if seen is not None and seen[0] is schema and seen[1] == schema:
        return seen[2]
    text = json.dumps(schema, sort_keys=True)
    if len(_TEXTS) >= _TEXTS_MAX:
        _TEXTS.clear()
    _TEXTS[id(schema)] = (schema, json.loads(text), text)   # holding the dict keeps its id from being reused
    return text


def validate(instance: Any, name: str) -> None:
    """Raise ``jsonschema.ValidationError`` if ``instance`` does not match the schema."""
    validator, precheck = _validator(name)
    if precheck is None or not precheck(instance):
        validator.validate(instance)


class Template(string.Template):
    """``$name`` placeholders; a missing variable is an error, never an empty string."""


@functools.cache
def _template(name: str) -> Template:
    return Template((PROMPTS / f"{name}.txt").read_text(encoding="utf-8"))


def render_prompt(name: str, **variables: Any) -> str:
    """Fill ``prompts/<name>.txt``; raises KeyError naming any variable not given."""
    template = _template(name)
    missing = sorted({m.group("named") or m.group("braced") for m in template.pattern.finditer(template.template)
                      if (m.group("named") or m.group("braced"))} - variables.keys())
    if missing:
        raise KeyError(f"prompt {name!r} needs variable(s) {', '.join(missing)}")
    return template.substitute(variables)
