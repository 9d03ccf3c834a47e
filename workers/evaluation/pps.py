"""The PPS tortured phrases as an evaluation set: a fixed tuning/report split and spun documents.

Data: the tortured-phrases list of the Problematic Paper Screener (Cabanac, Labbé & Magazinov; CC BY
4.0), pairs (tortured phrase, expected phrase) that real paraphrasing spinners produced in scientific
papers (``corpora.tortured_phrases``). Only the tuning half may be used to fit or choose anything;
``unspun eval`` reports the report half.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from workers.restoration.emulate import SpunSpan

HALVES = ("tune", "report")
PHRASES_PER_DOC = 10


def half_of(expected: str) -> str:
    """"tune" or "report" for a pair, from a SHA-256 of its expected phrase (lower case, spaces
    collapsed), so every variant of one expected phrase lands on the same side, in every run."""
    key = " ".join(expected.lower().split()).encode("utf-8")
    return HALVES[hashlib.sha256(key).digest()[0] & 1]


def split(pairs: Iterable[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """{"tune": pairs, "report": pairs}, each in input order."""
    out: dict[str, list[tuple[str, str]]] = {h: [] for h in HALVES}
    for tortured, expected in pairs:
        out[half_of(expected)].append((tortured, expected))
    return out


def documents(pairs: list[tuple[str, str]], per_doc: int = PHRASES_PER_DOC) -> list[tuple[str, str, str, list[SpunSpan]]]:
    """Pairs grouped ``per_doc`` to a document, one phrase per line ending in a full stop, as
    (id, clean text, spun text, spans): clean holds the expected phrases, spun the tortured ones, each
    span covering one tortured phrase with its expected phrase as ``original``."""
    out = []
    for k in range(0, len(pairs), per_doc):
        clean_lines, spun, spans, pos = [], [], [], 0
        for tortured, expected in pairs[k : k + per_doc]:
            clean_lines.append(expected + ".")
            spans.append(SpunSpan(pos, pos + len(tortured), expected, tortured, "phrase"))
            spun.append(tortured + ".")
            pos += len(tortured) + 2  # ".\n"
        out.append((f"pps-{k // per_doc}", "\n".join(clean_lines), "\n".join(spun), spans))
    return out
