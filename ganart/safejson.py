"""JSON from strangers: bounded in size and nesting before it is parsed.

Python's parser recurses once per nesting level, so ``[[[[...]]]]`` a few thousand deep
escapes as RecursionError (a traceback) instead of a message; the depth is counted first.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .limits import MAX_JSON_DEPTH

_SPECIAL = re.compile(r'[\[\]{}"\\]')  # the only characters that change depth or string state


def nesting(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings do not
    count). One pass over the special characters: linear in the text, whatever it holds."""
    depth = deepest = 0
    in_string = escaped = False
    last = -2
    for m in _SPECIAL.finditer(text):
        c, at = m.group(), m.start()
        if escaped and at == last + 1:  # the character a backslash escapes
            escaped, last = False, at
            continue
        escaped, last = False, at
        if in_string:
            if c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def loads(text: str | bytes, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` of at most ``max_bytes`` and ``max_depth`` levels; ValueError naming the problem."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8 text") from None
    if not isinstance(text, str):
        raise ValueError(f"expected JSON text, got {type(text).__name__}")
    if len(text) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    if nesting(text) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e})") from None
