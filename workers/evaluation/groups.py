"""Synonym-group dictionaries for the evaluation spinners: reading, writing, and the thesaurus source.

A group dictionary is the file shape many WordPress auto-spinner plugins ship: one group per line,
``|``-separated, the first item the head word the spinner replaces with one of the others
(``table|desk``, ``possible|doable|achievable``). For spinning, a group becomes a table ``Entry`` head ->
others (``group_entries``), read forwards by ``workers.restoration.emulate.spin``.

Thesaurus source: the LibreOffice English thesaurus (Debian ``mythes-en-us``,
``/usr/share/mythes/th_en_US_v2.dat``), read at run time and never shipped. Its format: a first line
naming the encoding, then per head word a line ``head|n`` followed by ``n`` meaning lines
``(pos)|synonym|synonym|...``; items annotated ``(generic term)``, ``(similar term)``,
``(related term)``, ``(antonym)`` are not synonyms and are skipped, as a spinner plugin built from it
would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from workers.restoration.build.spinnable import spinnable
from workers.restoration.dictionary_formats import dictionary_lines
from workers.restoration.table import Entry

MYTHES = Path("/usr/share/mythes/th_en_US_v2.dat")
_MYTHES_POS = {"(noun)": "NOUN", "(verb)": "VERB", "(adj)": "ADJ", "(adv)": "X"}
MAX_ITEM_WORDS = 3


def group_entries(groups: Iterable[Sequence[str]], pos: str = "X", kind: str = "word", source: str = "") -> list[Entry]:
    """Table entries head -> other items of each group (``pos`` for all; "X" spins literally, as a
    plugin does); groups with fewer than two distinct items are skipped."""
    out = []
    for n, g in enumerate(groups, 1):
        head = g[0].strip()
        subs = tuple(dict.fromkeys(s.strip() for s in g[1:] if s.strip() and s.strip().lower() != head.lower()))
        if head and subs:
            out.append(Entry(head, subs, pos, kind, f"{source}:{n}"))
    return out


def read_groups(path: Path | str) -> list[list[str]]:
    """Groups of a ``|``-separated group file, items as written; lines, encodings and comments as the
    restorer reads them (``dictionary_formats.dictionary_lines``: blank, ``#`` and ``//`` lines
    skipped). Raises ``OSError`` when unreadable, ``DictionaryError`` for binary data."""
    # Items are not taken from dictionaries.read_dictionary: a plugin puts them in as written, while that
    # reader normalises them for matching ("Lord" -> "lord", "{a|b}" unbraced; 217 of the 15,000 groups of
    # the "dictionary loaded" row would change and with them the spun texts).
    p = Path(path)
    _, content, _ = dictionary_lines(p.read_bytes(), p)
    return [[x.strip() for x in line.split("|") if x.strip()] for _, line in content]


def write_groups(groups: Iterable[Sequence[str]], path: Path | str) -> Path:
    """Write groups one per line, ``|``-separated (UTF-8); returns the path."""
    p = Path(path)
    p.write_text("".join("|".join(g) + "\n" for g in groups), encoding="utf-8")
    return p


def _usable(item: str) -> bool:
    return "(" not in item and 0 < len(item.split()) <= MAX_ITEM_WORDS


def read_mythes(path: Path | str = MYTHES, heads: set[str] | None = None) -> list[tuple[str, str, list[str]]]:
    """(head, pos, synonyms) per head word and part of speech of a MyThes thesaurus, in file order;
    synonyms of all meanings of that part of speech, annotated items skipped. Only lower-case heads of
    up to ``MAX_ITEM_WORDS`` words, and when ``heads`` is given only those in it. Raises
    ``FileNotFoundError`` when the thesaurus is not installed (``apt-get install mythes-en-us``)."""
    out: list[tuple[str, str, list[str]]] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        fh.readline()  # encoding line
        lines = iter(fh)
        for line in lines:
            head, _, n = line.rstrip("\n").rpartition("|")
            meanings = [next(lines, "") for _ in range(int(n))]
            if head != head.lower() or not _usable(head) or (heads is not None and head not in heads):
                continue
            by_pos: dict[str, dict[str, None]] = {}
            for m in meanings:
                items = m.rstrip("\n").split("|")
                pos = _MYTHES_POS.get(items[0])
                if pos is None:
                    continue
                bucket = by_pos.setdefault(pos, {})
                for it in items[1:]:
                    if _usable(it) and it.lower() != head:
                        bucket.setdefault(it, None)
            out += [(head, pos, list(syns)) for pos, syns in by_pos.items() if syns]
    return out


def mythes_groups(model, n: int, path: Path | str = MYTHES) -> list[list[str]]:
    """The ``n`` single-word heads of the thesaurus most frequent in the n-gram ``model`` (ties by
    word; only heads ``spinnable`` allows), each as a group head + its synonyms of every
    meaning and part of speech: the shape of a plugin's group dictionary built from this thesaurus."""
    merged: dict[str, dict[str, None]] = {}
    for head, _, syns in read_mythes(path):
        if spinnable(head):  # heads are lower-case already (read_mythes)
            merged.setdefault(head, {}).update(dict.fromkeys(syns))
    ranked = sorted(merged, key=lambda h: (-model.count([h]), h))[:n]
    return [[h, *merged[h]] for h in ranked]
