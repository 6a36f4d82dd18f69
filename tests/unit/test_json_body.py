"""The strict JSON reader's duplicate-key check (web/body.py): a C dict() and a length
comparison in place of a Python loop over every pair, with the same verdicts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dinky_falcon.web.body import _reject_duplicate_keys

keys = st.sampled_from(["to", "cc", "subject", "a", "é", ""])
pairs = st.lists(st.tuples(keys, st.integers()), max_size=8)


def one_by_one(pairs):
    """The check as it was written first: every pair looked at in turn."""
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


@given(pairs)
def test_a_duplicate_key_is_refused_and_named_as_the_pair_by_pair_check_does(pairs):
    try:
        expected = one_by_one(pairs)
    except ValueError as refused:
        with pytest.raises(ValueError) as raised:
            _reject_duplicate_keys(pairs)
        assert str(raised.value) == str(refused)
    else:
        assert _reject_duplicate_keys(pairs) == expected


def test_nested_objects_are_checked_too():
    with pytest.raises(ValueError, match="duplicate key 'b'"):
        json.loads('{"a": {"b": 1, "c": 2, "b": 3}}', object_pairs_hook=_reject_duplicate_keys)
