"""The API's JSON parser: DRF's, with a nesting limit.

Apart from project/kernel/api.py: DRF loads its parser setting while rest_framework.views imports,
and project/kernel/api.py imports that module.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but a body nested past MAX_JSON_DEPTH is a 400, not a RecursionError
    (a 500) in the decoder or in any code that walks the value later."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
            too_deep = True
        else:
            too_deep = nesting_exceeds(data, MAX_JSON_DEPTH)
        if too_deep:
            raise exceptions.ParseError(
                f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels"
            )
        return data


MAX_JSON_DEPTH = 32


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit`; iterative, so any depth is safe."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
