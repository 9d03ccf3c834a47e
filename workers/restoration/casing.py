"""Capitalisation helpers: copy the case pattern of a spun span onto its restored form, and tell
sentence-initial, title-case and all-caps positions apart from names."""

from __future__ import annotations

_SMALL = frozenset("a an and as at but by for from in into of on or the to with".split())
SENTENCE_END = frozenset(".!?:;\"“”'‘’()[]-–—•*#>|")


def case_pattern(span: str) -> str:
    """"upper" (ALL CAPS: 2+ letters, or a letter after digits as in "1000'S"), "title" (every word of 2+ words capitalised), "cap" (first
    letter upper) or "lower"."""
    if span.islower():  # most spans; the rules below give "lower" for them too
        return "lower"
    letters = [c for c in span if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and (len(letters) >= 2 or any(c.isdigit() for c in span)):
        return "upper"
    words = [w for w in span.split() if any(c.isalpha() for c in w)]
    if len(words) >= 2 and all(w[0].isupper() or w.lower() in _SMALL for w in words) and words[-1][0].isupper():
        return "title"
    first = next((c for c in span if c.isalpha()), "")
    return "cap" if first.isupper() else "lower"


def copy_case(spun: str, restored: str) -> str:
    """``restored`` in the case pattern of ``spun``; capitals of the table's own form are kept
    ("wall road" -> "Wall Street" stays capitalised, "Mentioned" -> "Said", "FIRM" -> "COMPANY")."""
    p = case_pattern(spun)
    if p == "upper":
        return restored.upper()
    if p == "title":
        words = restored.split(" ")
        first_up = spun[:1].isupper()  # "the World" stays "the Arena", not "The Arena"
        return " ".join(
            (w[:1].upper() + w[1:]) if ((i == 0 and first_up) or (i > 0 and w.lower() not in _SMALL)) else w
            for i, w in enumerate(words)
        )
    if p == "cap":
        return restored[:1].upper() + restored[1:]
    return restored

