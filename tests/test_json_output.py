"""`--json` output is written by `vault.cli.output.indented_json`, which must be exactly what
`json.dumps(value, ensure_ascii=False, indent=2)` writes (it is only faster): checked on
generated values, strings of every kind included, and on what the json module is left."""

from __future__ import annotations

import enum
import json
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.cli.output import _Unusual, indented_json

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF))
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=1500, deadline=None)
@given(values)
def test_indented_json_is_what_the_json_module_writes(value: object) -> None:
    assert indented_json(value) == json.dumps(value, ensure_ascii=False, indent=2)


class Level(enum.IntEnum):
    HIGH = 2


@pytest.mark.parametrize(
    "value", [{1: "int key"}, [Level.HIGH], OrderedDict(a=1), {"set": {1, 2}}, b"bytes"]
)
def test_anything_else_is_left_to_the_json_module(value: object) -> None:
    with pytest.raises(_Unusual):
        indented_json(value)
