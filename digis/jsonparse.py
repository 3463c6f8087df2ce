"""JSON from clients, parsed with limits: nesting depth and NUL characters.

Python's json module recurses once per nesting level, so a body nested 1,000
deep raised RecursionError (a 500 on any JSON endpoint, a 1011 on the socket).
And PostgreSQL refuses U+0000 in text and jsonb, so a NUL inside any string
that reaches the database raised DataError. Both are refused here, at the
edge, as malformed input.
"""

import json

# Nothing Digis accepts nests deeper than a few levels.
MAX_DEPTH = 32


class UnacceptableJSON(ValueError):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def check(value) -> None:
    """Walk a parsed value without recursion; refuse deep nesting and NUL characters."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise UnacceptableJSON("Text may not contain NUL characters.", "null_character")
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise UnacceptableJSON(f"JSON may nest at most {MAX_DEPTH} levels deep.", "too_deep")
            if isinstance(item, dict):
                for key, child in item.items():
                    if "\x00" in key:
                        raise UnacceptableJSON("Text may not contain NUL characters.", "null_character")
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def loads(text):
    """json.loads, then check(). Raises ValueError (UnacceptableJSON or json.JSONDecodeError)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise UnacceptableJSON(f"JSON may nest at most {MAX_DEPTH} levels deep.", "too_deep")
    check(value)
    return value
