"""JSON in and out of the API with orjson, and exactly the standard library's results.

orjson parses and writes the small documents of every request several times faster than
``json`` (benchmarks/README.md). Where the two would differ, the standard library decides:
a body orjson refuses (a lone surrogate, an integer past 64 bits, which ``json`` reads) is
parsed again by ``json``, so what is valid and the 400's message stay as they were; a value
orjson cannot write (an integer past 64 bits) is written by ``json``. Keys that are not
strings are written as strings, as ``json`` does.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dump_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def load_json(raw: bytes | str) -> Any:
    """A JSON document; ``json.JSONDecodeError`` (or ``UnicodeDecodeError``) as ``json.loads``
    raises them."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
