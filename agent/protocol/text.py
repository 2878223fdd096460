"""Making untrusted text inert before it reaches a terminal.

Chat text and names come from strangers. Anything a terminal could act on (C0/C1 controls,
escape sequences, DEL) or that could disguise a line (bidi overrides, line separators) is
replaced with a visible stand-in, so a hostile viewer's bytes show as characters and do nothing.
Markup is never interpreted by the code that displays this text, so brackets need no escaping.
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]


def _table() -> dict[int, str]:
    table = {code: REPLACEMENT for code in range(0x20)}
    table.update({code: REPLACEMENT for code in range(0x7F, 0xA0)})
    table.update({code: "" for code in _BIDI})
    table.update({ord("\t"): " ", ord("\n"): " ", ord("\r"): " ", 0x2028: " ", 0x2029: " "})
    return table


_INERT = _table()


def inert(text: str, limit: int = 500) -> str:
    """``text`` on one line, with nothing a terminal would execute, cut to ``limit`` chars."""
    # Every character replaced below is non-printable, so most chat lines skip the translate.
    if len(text) <= limit and text.isprintable():
        return text
    clean = text.translate(_INERT)
    if len(clean) > limit:
        return clean[: limit - 1] + "\u2026"
    return clean
