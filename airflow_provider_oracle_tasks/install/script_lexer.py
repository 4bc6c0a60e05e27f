"""The lexing SQL*Plus does before it looks for terminators: one line at a time, carrying the
comment / literal / quoted-name state across lines, so ``;`` and ``/`` inside a string, a q-quote
or a comment are never taken for terminators. Used by :mod:`.script_parser`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["Lex", "mask_text", "scan"]


_IDENT_CHARS = frozenset(string.ascii_letters + string.digits + "_$#")
_Q_CLOSERS = {"[": "]", "{": "}", "(": ")", "<": ">"}
_LexMode: TypeAlias = Literal["code", "comment", "string", "ident"]


@dataclass(frozen=True)
class Lex:
    """Where a line starts: in code, inside a ``/* */`` comment, a literal or a quoted name."""

    mode: _LexMode = "code"
    close: str = ""  # what ends the current literal: "'" or, for q'[...]', "]'"


def _q_quote_starts(line: str, i: int) -> bool:
    """``q'`` / ``nq'`` only open a q-quote at the start of a token (not inside ``seq'``...)."""
    if i + 2 >= len(line) or line[i + 1] != "'":
        return False
    if i == 0 or line[i - 1] not in _IDENT_CHARS:
        return True
    return line[i - 1] in "nN" and (i == 1 or line[i - 2] not in _IDENT_CHARS)


def scan(line: str, lex: Lex) -> tuple[str, str, Lex]:
    """Mask one line so terminators can be found with plain string operations.

    Returns ``(code, nocomment, lex_after)``, both the length of ``line``: ``code`` has comments
    replaced by spaces and literals/quoted names by ``_``; ``nocomment`` only blanks comments
    (used to read object names).
    """
    code = list(line)
    keep = list(line)
    mode: _LexMode = lex.mode
    close = lex.close
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if mode == "code":
            if line.startswith("--", i):
                for j in range(i, n):
                    code[j] = keep[j] = " "
                break
            if line.startswith("/*", i):
                code[i] = code[i + 1] = keep[i] = keep[i + 1] = " "
                mode = "comment"
                i += 2
            elif c in "qQ" and _q_quote_starts(line, i):
                delimiter = line[i + 2]
                close = _Q_CLOSERS.get(delimiter, delimiter) + "'"
                code[i] = code[i + 1] = code[i + 2] = "_"
                mode = "string"
                i += 3
            elif c == "'":
                code[i] = "_"
                mode, close = "string", "'"
                i += 1
            elif c == '"':
                code[i] = "_"
                mode = "ident"
                i += 1
            else:
                i += 1
        elif mode == "comment":
            end = line.find("*/", i)
            stop = n if end < 0 else end + 2
            for j in range(i, stop):
                code[j] = keep[j] = " "
            if end >= 0:
                mode = "code"
            i = stop
        elif mode == "ident":
            code[i] = "_"
            if c == '"':
                mode = "code"
            i += 1
        elif close == "'":
            code[i] = "_"
            if c == "'":
                if i + 1 < n and line[i + 1] == "'":
                    code[i + 1] = "_"
                    i += 2
                    continue
                mode = "code"
            i += 1
        else:
            code[i] = "_"
            if line.startswith(close, i):
                code[i + 1] = "_"
                mode = "code"
                i += 2
            else:
                i += 1
    return "".join(code), "".join(keep), Lex(mode, close if mode == "string" else "")


def mask_text(text: str) -> tuple[str, str]:
    """Mask a whole statement: ``(code, nocomment)`` as :func:`scan` does for one line."""
    lex = Lex()
    code_lines, keep_lines = [], []
    for line in text.split("\n"):
        code, keep, lex = scan(line, lex)
        code_lines.append(code)
        keep_lines.append(keep)
    return "\n".join(code_lines), "\n".join(keep_lines)
