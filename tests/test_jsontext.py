"""rewriter.jsontext.dumps writes exactly what json.dumps(ensure_ascii=False, indent=2) writes."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from enum import IntEnum
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewriter.jsontext import dumps

LEAVES = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
          | st.text() | st.sampled_from(["", "\ud800", "é\u2028\x00\"\\/", 10**30, -0.0, 1e-7]))
KEYS = st.text() | st.sampled_from(["", "\udfff", "a\nb"])
JSON = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                    | st.dictionaries(KEYS, inner, max_size=4), max_leaves=30)


def same(value) -> None:
    expected = json.dumps(value, ensure_ascii=False, indent=2)
    got = dumps(value)
    if isinstance(value, float) and math.isnan(value):
        assert got == expected == "NaN"
    assert got == expected


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_the_same_text_as_json_dumps(value):
    same(value)


@pytest.mark.parametrize("value", [
    {1: "an int key", None: 0, True: 1, 2.5: []},          # keys json converts
    OrderedDict([("b", 1), ("a", [OrderedDict()])]),        # subclasses go to json.dumps
    {"level": IntEnum("Level", "LOW HIGH").HIGH},
    [[[[[]]]], {}, [{}], {"": {"": {}}}],
])
def test_values_left_to_json_dumps_give_its_text(value):
    same(value)


def test_what_json_cannot_write_fails_as_json_dumps_fails():
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular"):
        dumps(cycle)
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"path": Path("x")})


@pytest.mark.parametrize("schema", sorted((Path(__file__).parent.parent / "schemas").glob("*.json")),
                         ids=lambda p: p.name)
def test_the_project_schemas_deeply_nested_give_the_same_text(schema):
    same(json.loads(schema.read_text(encoding="utf-8")))
