"""Docstrings as plain command-line text."""

from __future__ import annotations

import re

__all__ = ["plain_doc"]

_ROLE = re.compile(r":(?:mod|func|class|meth|data|attr|obj):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain_doc(doc: str | None) -> str:
    """``doc`` without reST markup: ``code`` -> code, :mod:`x` -> x, ``Examples::`` -> ``Examples:``."""
    text = _ROLE.sub(r"\1", doc or "")
    text = _LITERAL.sub(r"\1", text)
    return re.sub(r"::$", ":", text, flags=re.MULTILINE).strip()
