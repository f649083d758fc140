"""A compiled yes-or-don't-know check in front of jsonschema, for the keywords our schemas use.

jsonschema stays the validator of record: every message a model, a log or a test sees is its own.
But it walks a schema through layers of resolver and validator objects, about 250 µs for one
proposal of a corrections reply, and the pipeline checks fifteen items and two replies per article
that are nearly always valid. :func:`compile_precheck` turns a schema into nested closures that
answer ``True`` only when jsonschema (Draft 2020-12, with format assertions) would find no error,
in about 30 µs; ``False`` means "ask jsonschema", which then finds the errors, or none (the
check may be stricter than the schema, never looser).

A schema with any keyword outside the small set below compiles to ``None`` (always ask
jsonschema), and so does an instance holding anything JSON cannot (a tuple, a Decimal, a key
that is not a string). Keywords that need the exact answer of a sub-check (``oneOf``, ``not``,
``if``) are left out on purpose: a "don't know" there could turn into a wrong "yes".
``tests/test_precheck.py`` holds it to jsonschema's answer on generated instances.
"""

from __future__ import annotations

import re
from typing import Any, Callable

Check = Callable[[Any], bool]

# Keywords that never make an instance invalid (annotations, and definitions only a $ref could reach:
# a schema with $ref is not compiled at all).
_ANNOTATIONS = frozenset({"description", "title", "$schema", "$id", "$comment", "default", "examples",
                          "deprecated", "readOnly", "writeOnly", "$defs", "definitions"})
_HANDLED = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum", "const",
                      "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
                      "pattern", "minItems", "maxItems", "anyOf", "allOf"}) | _ANNOTATIONS


class _Unsupported(Exception):
    pass


def _is_number(x: Any) -> bool:
    return type(x) is int or type(x) is float


_TYPES: dict[str, Check] = {
    "object": lambda x: type(x) is dict,
    "array": lambda x: type(x) is list,
    "string": lambda x: type(x) is str,
    "number": _is_number,
    # Draft 6 and later: 1.0 is an integer.
    "integer": lambda x: type(x) is int or (type(x) is float and x.is_integer()),
    "boolean": lambda x: type(x) is bool,
    "null": lambda x: x is None,
}


def _json_native(x: Any) -> bool:
    """Whether ``x`` is made only of what JSON decodes to (so the type tests above are exact)."""
    t = type(x)
    if t in (str, int, float, bool) or x is None:
        return True
    if t is list:
        return all(_json_native(v) for v in x)
    if t is dict:
        return all(type(k) is str and _json_native(v) for k, v in x.items())
    return False


def compile_precheck(schema: Any) -> Check | None:
    """The check for ``schema``, or ``None`` when it uses a keyword this module does not handle."""
    try:
        check = _compile(schema)
    except _Unsupported:
        return None
    return lambda instance: _json_native(instance) and check(instance)


def _scalars(values: Any) -> frozenset:
    """``enum``/``const`` values as a set, when they are all strings or null (compared exactly as
    jsonschema does: a string equals only the same string)."""
    if not isinstance(values, list) or not all(v is None or type(v) is str for v in values):
        raise _Unsupported
    return frozenset(values)


def _compile(schema: Any) -> Check:
    if schema is True:
        return lambda x: True
    if schema is False or not isinstance(schema, dict) or not schema.keys() <= _HANDLED:
        raise _Unsupported
    checks: list[Check] = []
    s = schema
    if "type" in s:
        names = s["type"] if isinstance(s["type"], list) else [s["type"]]
        if not names or any(n not in _TYPES for n in names):
            raise _Unsupported
        tests = [_TYPES[n] for n in names]
        checks.append(tests[0] if len(tests) == 1 else (lambda x, tests=tests: any(t(x) for t in tests)))
    if "enum" in s:
        allowed = _scalars(s["enum"])
        checks.append(lambda x, allowed=allowed: (x is None or type(x) is str) and x in allowed)
    if "const" in s:
        allowed = _scalars([s["const"]])
        checks.append(lambda x, allowed=allowed: (x is None or type(x) is str) and x in allowed)
    checks += _number_checks(s) + _string_checks(s) + _array_checks(s) + _object_checks(s)
    for key in ("anyOf", "allOf"):
        if key in s:
            if not isinstance(s[key], list) or not s[key]:
                raise _Unsupported
            subs = [_compile(sub) for sub in s[key]]
            # A sub-check's False is "don't know", so anyOf's any() stays on the safe side too.
            combine = any if key == "anyOf" else all
            checks.append(lambda x, subs=subs, combine=combine: combine(c(x) for c in subs))
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]
    return lambda x: all(c(x) for c in checks)


def _bound(s: dict, key: str) -> float | None:
    value = s.get(key)
    if value is None:
        return None
    if not _is_number(value):
        raise _Unsupported
    return value


def _number_checks(s: dict) -> list[Check]:
    low, high = _bound(s, "minimum"), _bound(s, "maximum")
    xlow, xhigh = _bound(s, "exclusiveMinimum"), _bound(s, "exclusiveMaximum")
    if low is None and high is None and xlow is None and xhigh is None:
        return []

    def within(x: Any) -> bool:
        if not _is_number(x):
            return True           # bounds apply to numbers only
        return ((low is None or x >= low) and (high is None or x <= high)
                and (xlow is None or x > xlow) and (xhigh is None or x < xhigh))
    return [within]


def _string_checks(s: dict) -> list[Check]:
    shortest, longest = s.get("minLength"), s.get("maxLength")
    for n in (shortest, longest):
        if n is not None and type(n) is not int:
            raise _Unsupported
    checks: list[Check] = []
    if shortest is not None or longest is not None:
        checks.append(lambda x: type(x) is not str or ((shortest is None or len(x) >= shortest)
                                                       and (longest is None or len(x) <= longest)))
    if "pattern" in s:
        if type(s["pattern"]) is not str:
            raise _Unsupported
        search = re.compile(s["pattern"]).search      # jsonschema uses re.search, unanchored
        checks.append(lambda x: type(x) is not str or search(x) is not None)
    return checks


def _array_checks(s: dict) -> list[Check]:
    checks: list[Check] = []
    fewest, most = s.get("minItems"), s.get("maxItems")
    for n in (fewest, most):
        if n is not None and type(n) is not int:
            raise _Unsupported
    if fewest is not None or most is not None:
        checks.append(lambda x: type(x) is not list or ((fewest is None or len(x) >= fewest)
                                                        and (most is None or len(x) <= most)))
    if "items" in s:
        if s["items"] is False:
            checks.append(lambda x: type(x) is not list or not x)
        else:
            each = _compile(s["items"])
            checks.append(lambda x: type(x) is not list or all(each(v) for v in x))
    return checks


def _object_checks(s: dict) -> list[Check]:
    checks: list[Check] = []
    if "required" in s:
        required = s["required"]
        if not isinstance(required, list) or not all(type(r) is str for r in required):
            raise _Unsupported
        needed = tuple(required)
        checks.append(lambda x: type(x) is not dict or all(k in x for k in needed))
    properties = s.get("properties", {})
    if not isinstance(properties, dict):
        raise _Unsupported
    subs = {name: _compile(sub) for name, sub in properties.items()}
    if subs:
        checks.append(lambda x: type(x) is not dict
                      or all(check(x[k]) for k, check in subs.items() if k in x))
    if "additionalProperties" in s:
        extra = s["additionalProperties"]
        known = frozenset(properties)
        if extra is False:
            checks.append(lambda x: type(x) is not dict or x.keys() <= known)
        elif extra is not True:
            rest = _compile(extra)
            checks.append(lambda x: type(x) is not dict
                          or all(rest(v) for k, v in x.items() if k not in known))
    return checks
