"""The compiled pre-check (rewriter/precheck.py) says "valid" exactly when jsonschema does."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewriter import claims, corrections, resources
from rewriter.precheck import compile_precheck
from rewriter.resources import load_schema

JSON = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-2, 2, allow_nan=False)
                    | st.sampled_from([0, 1, 1.0, 0.5, -1, 10**20]) | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=8)


MOSTLY = st.sampled_from([True] * 19 + [False])     # hypothesis leans to the first element


def near(schema) -> st.SearchStrategy:
    """Values shaped by ``schema``, valid more often than not, each part sometimes replaced by any JSON."""
    if not isinstance(schema, dict):
        return JSON
    options = []
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    if "anyOf" in schema:
        options.append(st.one_of([near(s) for s in schema["anyOf"]]))
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "object" in kinds or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))

        @st.composite
        def objects(draw):
            out = {}
            for name, sub in props.items():
                if draw(MOSTLY if name in required else st.booleans()):
                    out[name] = draw(near(sub))
            if not draw(MOSTLY):
                out[draw(st.text(max_size=3))] = draw(JSON)
            return out
        options.append(objects())
    if "array" in kinds:
        options.append(st.lists(near(schema.get("items", {})), max_size=3))
    if "string" in kinds and "enum" not in schema:
        shortest = schema.get("minLength", 0)
        options.append(st.text(min_size=shortest, max_size=shortest + 3)
                       | st.sampled_from(["", " 12 ", "3", "x", "https://a.b", "E3#1"]))
    if "number" in kinds or "integer" in kinds:
        low, high = schema.get("minimum", -3), schema.get("maximum", 3)
        options.append(st.sampled_from([low, high, low - 0.5, high + 1, 1.0, True]) | st.integers(low, high)
                       | st.floats(low, high))
    # Mostly shaped by the schema (so valid instances are common), now and then anything at all.
    return st.one_of(*options * 6, JSON) if options else JSON


def _schemas():
    found = {name: load_schema(name) for name in ("claims", "corrections")}
    found["claims, numbers as text"] = claims.numeric_strings_accepted(load_schema("claims"))
    found["corrections envelope"] = corrections.ENVELOPE
    found["corrections item"] = load_schema("corrections")["properties"]["proposals"]["items"]
    found["claims item"] = load_schema("claims")["properties"]["claims"]["items"]
    return found


SCHEMAS = _schemas()


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_schema_the_stages_check_compiles(name):
    assert compile_precheck(SCHEMAS[name]) is not None


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_precheck_agrees_with_jsonschema(name, data):
    schema = SCHEMAS[name]
    instance = data.draw(near(schema))
    cls = jsonschema.validators.validator_for(schema)
    valid = cls(schema, format_checker=cls.FORMAT_CHECKER).is_valid(instance)
    assert compile_precheck(schema)(instance) == valid


def test_keywords_it_cannot_answer_exactly_are_left_to_jsonschema():
    for schema in ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, {"not": {"type": "string"}},
                   {"$ref": "#/$defs/x", "$defs": {"x": {"type": "string"}}}, {"type": "string", "format": "date"},
                   {"enum": [1, "a"]}, {"type": "object", "patternProperties": {"^a": {}}}, {"prefixItems": []}):
        assert compile_precheck(schema) is None, schema


def test_what_json_cannot_hold_goes_to_jsonschema():
    check = compile_precheck({"type": "object", "properties": {"n": {"type": "number", "minimum": 0}}})
    assert check({"n": 1}) and not check({"n": -1})
    assert not check({"n": (1,)}) and not check({1: 2})      # a tuple, a key that is not a string


def test_errors_against_still_reports_jsonschemas_messages():
    item = SCHEMAS["corrections item"]
    bad = {"finding_id": "f1", "action": "rewrite", "replacement": "", "rationale": "r", "confidence": 2, "sources": []}
    assert resources.errors_against(bad, item) == [
        "at $.action: 'rewrite' is not one of ['replace', 'delete', 'keep', 'needs_human']",
        "at $.confidence: 2 is greater than the maximum of 1"]


def test_the_canonical_text_follows_a_changed_dict():
    schema = {"type": "object", "required": ["a"]}
    first = resources.schema_text(schema)
    assert resources.schema_text(schema) is first
    schema["required"].append("b")
    assert json.loads(resources.schema_text(schema)) == {"type": "object", "required": ["a", "b"]}
