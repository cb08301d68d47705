"""CloudWatch Logs filter patterns, evaluated: which log events a subscription filter passes on.

moto 5.2.5 hands every event to every subscription filter whatever its pattern, and
evaluates no JSON pattern anywhere. This module evaluates the part of the filter pattern
syntax the local AWS needs, exactly, and refuses the rest (:class:`UnsupportedFilterPattern`)
rather than letting a pattern it cannot read match everything:

* ``""``: every event.
* Terms: ``ERROR``, ``"Server listening"``, ``ERROR "exit status"``: every term appears in
  the message (case-sensitive). ``?term`` (OR) and ``-term`` (NOT) are refused.
* JSON: ``{ $.event = "started" }``, ``{ $.event = "started" && $.mode = tunnel }``,
  ``{ $.sessionId = "alice-*" }``: the message is a JSON object, and each selected
  property is a string equal to the value (``*`` matches any run of characters).
  Selectors are dotted names; clauses are joined by ``&&`` only. Numeric comparisons,
  ``!=``, ``||``, parentheses, arrays, ``IS NULL``/``EXISTS`` are refused.
* Space-delimited patterns (``[ip, user, ...]``) are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

Matcher = Callable[[str], bool]

_JSON_CLAUSE = re.compile(
    r"\s*(?P<selector>\$(?:\.[A-Za-z0-9_]+)+)\s*=\s*"
    r"(?:\"(?P<quoted>[^\"\\]*)\"|(?P<bare>[A-Za-z_*][A-Za-z0-9_.:/@*-]*))\s*"
)
_TERM = re.compile(r"\s*(?:\"(?P<quoted>[^\"\\]*)\"|(?P<bare>[^\s\"]+))")


class UnsupportedFilterPattern(ValueError):
    """A filter pattern the local AWS does not evaluate; the message says which part."""


def compile_filter_pattern(pattern: str) -> Matcher:
    """A function telling whether a log event's message matches ``pattern``."""
    text = pattern.strip()
    if not text:
        return lambda _message: True
    if text.startswith("{"):
        return _json_matcher(text)
    if text.startswith("["):
        raise UnsupportedFilterPattern(
            f"space-delimited filter patterns are not evaluated locally: {pattern!r}"
        )
    return _terms_matcher(text)


def _terms_matcher(text: str) -> Matcher:
    terms: list[str] = []
    position = 0
    while position < len(text):
        found = _TERM.match(text, position)
        if found is None:
            raise UnsupportedFilterPattern(f"cannot read the filter pattern {text!r}")
        term = found.group("quoted") if found.group("quoted") is not None else found["bare"]
        if found.group("bare") is not None and term[0] in "?-":
            raise UnsupportedFilterPattern(f"'?' and '-' terms are not evaluated locally: {text!r}")
        terms.append(term)
        position = found.end()
    return lambda message: all(term in message for term in terms)


def _wildcard(value: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in value.split("*")), re.DOTALL)


def _json_matcher(text: str) -> Matcher:
    if not text.endswith("}"):
        raise UnsupportedFilterPattern(f"a JSON filter pattern ends with '}}': {text!r}")
    clauses: list[tuple[tuple[str, ...], re.Pattern[str]]] = []
    for clause in text[1:-1].split("&&"):
        found = _JSON_CLAUSE.fullmatch(clause)
        if found is None:
            raise UnsupportedFilterPattern(
                f"only '$.a.b = \"value\"' clauses joined by '&&' are evaluated locally; "
                f"not {clause.strip()!r} in {text!r}"
            )
        value = found.group("quoted") if found.group("quoted") is not None else found["bare"]
        path = tuple(found.group("selector").split(".")[1:])
        clauses.append((path, _wildcard(value)))

    def matches(message: str) -> bool:
        try:
            document = json.loads(message)
        except ValueError:
            return False
        for path, expected in clauses:
            value = document
            for name in path:
                if not isinstance(value, dict) or name not in value:
                    return False
                value = value[name]
            if not isinstance(value, str) or not expected.fullmatch(value):
                return False
        return True

    return matches
