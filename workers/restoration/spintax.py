"""Leftover spintax: brace groups a broken spinner failed to resolve ("found {that a} combination").

A group ``{a|b|c}`` stands for one of its options; the restorer keeps the first option and drops the
braces. Groups with newlines inside or longer than ``MAX_GROUP`` characters are not taken as spintax.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAX_GROUP = 200
_GROUP = re.compile(r"\{([^{}\n]{0,%d})\}" % MAX_GROUP)


class SpintaxGroup(NamedTuple):
    """A brace group: ``[start, end)`` span of the whole group in the text (braces included), and
    ``[keep_start, keep_end)`` span of the option kept (the first one, stripped of spaces)."""

    start: int
    end: int
    keep_start: int
    keep_end: int

    def restored(self, text: str) -> str:
        """The kept option's text."""
        return text[self.keep_start : self.keep_end]


def find_spintax(text: str) -> list[SpintaxGroup]:
    """All brace groups of ``text`` in order; never raises."""
    out: list[SpintaxGroup] = []
    for m in _GROUP.finditer(text):
        inner_start = m.start(1)
        first = m.group(1).split("|", 1)[0]
        lead = len(first) - len(first.lstrip())
        ks = inner_start + lead
        ke = inner_start + len(first.rstrip())
        if ke < ks:
            ke = ks
        out.append(SpintaxGroup(m.start(), m.end(), ks, ke))
    return out
