"""``-k EXPR``: which cells a run measures, read as pytest reads ``-k``: words matched as
case-insensitive substrings of a cell's label, joined by ``and``, ``or``, ``not`` and
parentheses (``not`` binds tightest, then ``and``, then ``or``)."""

from __future__ import annotations

import re
from typing import Callable

TOKEN = re.compile(r"\s*(?:(\()|(\))|([^\s()]+))")
KEYWORDS = ("and", "or", "not")


class SelectionError(ValueError):
    """An expression that is not a selection; the message says where and why."""


def compile_selection(expr: str) -> Callable[[str], bool]:
    """A predicate on cell labels; SelectionError for an expression that is not one."""
    tokens = _tokens(expr)
    if not tokens:  # as pytest: an empty expression selects everything
        return lambda label: True
    pos, tree = _or(tokens, 0)
    if pos != len(tokens):
        raise SelectionError(f"unexpected {tokens[pos]!r} at word {pos + 1}")
    return lambda label: _evaluate(tree, label.lower())


def _tokens(expr: str) -> list[str]:
    out, at = [], 0
    while at < len(expr):
        m = TOKEN.match(expr, at)
        if not m or m.end() == at:
            break
        out.append(m.group(m.lastindex))
        at = m.end()
    if expr[at:].strip():
        raise SelectionError(f"cannot read {expr[at:]!r}")
    return out


def _or(t: list[str], i: int):
    return _joined(t, i, "or", _and)


def _and(t: list[str], i: int):
    return _joined(t, i, "and", _not)


def _joined(t: list[str], i: int, word: str, operand):
    """``operand (word operand)*``, left to right."""
    i, left = operand(t, i)
    while i < len(t) and t[i] == word:
        i, right = operand(t, i + 1)
        left = (word, left, right)
    return i, left


def _not(t: list[str], i: int):
    if i >= len(t):
        raise SelectionError("the expression ends where a word was expected")
    if t[i] == "not":
        i, inner = _not(t, i + 1)
        return i, ("not", inner)
    if t[i] == "(":
        i, inner = _or(t, i + 1)
        if i >= len(t) or t[i] != ")":
            raise SelectionError("a '(' is not closed")
        return i + 1, inner
    if t[i] == ")" or t[i] in KEYWORDS:
        raise SelectionError(f"unexpected {t[i]!r} at word {i + 1}")
    return i + 1, ("word", t[i].lower())


def _evaluate(tree, label: str) -> bool:
    kind = tree[0]
    if kind == "word":
        return tree[1] in label
    if kind == "not":
        return not _evaluate(tree[1], label)
    if kind == "and":
        return _evaluate(tree[1], label) and _evaluate(tree[2], label)
    return _evaluate(tree[1], label) or _evaluate(tree[2], label)
