"""Spinner dictionary formats: decoding, format detection and the readers of each format.

A spinner's dictionary is read as it ships, its format detected from the content (formats in
``data/README.md``, "Spinner dictionaries"):

- ``table-v1``: this project's table format (tab-separated, ``table.parse_lines``);
- ``groups``: one synonym group per line, ``|``-separated; the first item is the head word the
  spinner replaces with one of the others (``possible|doable|achievable``);
- ``colon-list`` / ``equals-list``: ``word: syn, syn`` or ``word=syn,syn`` (head, then substitutes);
- ``spintax``: a document with ``{a|b|c}`` groups anywhere in its text; each group is a set of
  mutual alternatives (every item an original with the others as its substitutes).

``parse_dictionary(bytes, path)`` returns a :class:`Dictionary` whose entries feed
``table.build_table``; ``dictionaries.py`` is the public interface (read, compile, cache).
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from workers.restoration.table import Entry, kind_of, parse_lines
from workers.restoration.tokens import norms

FORMATS = ("table-v1", "groups", "colon-list", "equals-list", "spintax")
# A file stops start-up when more than this share of its non-blank, non-comment lines is malformed:
# past half, the format was most likely guessed wrong, and restoring with the rest would mislead.
MALFORMED_SHARE = 0.5
# Items longer than this (in words) are sentence-level alternatives, not word substitutions.
MAX_ITEM_WORDS = 6
_INFLECTING = ("VERB", "NOUN", "ADJ")
_BRACES = re.compile(r"\{([^{}]*)\}")
_LIST = re.compile(r"^([^:=|{}\t,;]+?)\s*(:|=>|->|=)\s*(.*)$")  # "->" and "=>" count as "="
_LIST_SPLIT = re.compile(r"[,;|]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class DictionaryError(ValueError):
    """A dictionary file that cannot be used: unreadable, no entries, or mostly malformed lines.

    ``path``: the file; ``line``: 1-based line number of the first problem (None for the whole
    file); the message reads "path:line: what is wrong".
    """

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path = Path(path)
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")

    def __reduce__(self):  # raised in a child process (``dictionaries.check_dictionary``)
        return (type(self), (self.path, self.line, self.message))


@dataclass
class Dictionary:
    """A spinner dictionary as read from one file.

    ``format``: one of ``FORMATS``; ``encoding``: codecs the bytes were decoded with ("utf-8",
    "utf-8-sig", "utf-16", "cp1252", "latin-1", or several joined by "+", see ``decode``);
    ``entries``: ``table.Entry`` per head word (``original`` = head, ``substitutes`` = the others,
    ``pos`` inferred, ``kind`` "word" or "phrase"; table-v1 files keep their own pos and file-name
    kind); ``problems``: "file:line: message" for every line skipped or changed; ``lines``:
    physical lines; ``groups``: groups read (lines, or distinct spintax groups); ``skipped``: lines
    skipped (malformed or duplicate); ``malformed``: of those, lines that do not fit the format;
    ``first_malformed``: (line, problem) of the first of them, or None.
    """

    path: Path
    format: str
    encoding: str
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lines: int = 0
    groups: int = 0
    skipped: int = 0
    malformed: int = 0
    first_malformed: tuple[int, str] | None = None

    def bad_line(self, n: int, message: str) -> None:
        """Record line ``n`` as malformed (skipped) with ``message``."""
        self.malformed += 1
        self.problems.append(f"{self.path.name}:{n}: {message}")
        if self.first_malformed is None:
            self.first_malformed = (n, message)


# --------------------------------------------------------------------------- bytes and lines


def decode(data: bytes, path: Path | str = "") -> tuple[str, str]:
    """Bytes -> (text, encoding). A UTF-16 byte-order mark decides; otherwise UTF-8 (after an
    optional UTF-8 mark: "utf-8-sig"), and when the file is not valid UTF-8, line by line: UTF-8,
    else cp1252 (Windows Latin-1), else Latin-1, as concatenated dictionaries mix them. The encoding
    names the codecs used for non-ASCII lines, joined by "+" ("utf-8+cp1252"; "ascii" for none).
    Raises ``DictionaryError`` for binary data (NUL bytes) or broken UTF-16."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise DictionaryError(path, None, f"not valid UTF-16 despite its byte-order mark: {exc.reason}") from None
    utf8 = "utf-8"
    if data.startswith(codecs.BOM_UTF8):
        data, utf8 = data[len(codecs.BOM_UTF8) :], "utf-8-sig"
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise DictionaryError(path, line, "binary data (NUL byte): not a text dictionary (UTF-16 needs a byte-order mark)")
    try:
        return data.decode("utf-8"), utf8
    except UnicodeDecodeError:
        pass
    lines, used = [], dict.fromkeys((utf8, "cp1252", "latin-1"), False)
    for raw in data.split(b"\n"):
        for codec in (utf8, "cp1252", "latin-1"):
            try:
                lines.append(raw.decode("utf-8" if codec == "utf-8-sig" else codec))
            except UnicodeDecodeError:
                continue
            used[codec] |= not raw.isascii()
            break
    return "\n".join(lines), "+".join(c for c, u in used.items() if u) or "ascii"


def _is_comment(line: str) -> bool:
    return line.startswith("#") or line.startswith("//")


def dictionary_lines(data: bytes, path: Path | str = "") -> tuple[list[str], list[tuple[int, str]], str]:
    """A dictionary file's bytes as (physical lines, content lines, encoding): lines split at any line
    break, byte-order marks removed; content lines are (1-based line number, stripped text) of the
    lines that are neither blank nor comments (``#``, ``//``). Raises ``DictionaryError`` as ``decode``."""
    text, encoding = decode(data, path)
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    # a BOM inside the text is a leftover of concatenated files
    lines = [s.replace("\ufeff", "") for s in lines]
    content = [(n, s.strip()) for n, s in enumerate(lines, 1) if s.strip() and not _is_comment(s.strip())]
    return lines, content, encoding


def _unbrace(line: str, nested_as_first: bool = False) -> tuple[list[str], str, bool]:
    """(brace groups innermost first, the line without them, whether braces balance). With
    ``nested_as_first`` an inner group stands for its first item inside the outer one
    ("{{quickly|fast}|rapidly}" -> "quickly|fast", then "quickly|rapidly"), as spintax is resolved."""
    groups: list[str] = []
    rest = line
    while True:
        found = _BRACES.findall(rest)
        if not found:
            break
        groups.extend(found)
        rest = _BRACES.sub(lambda m: m.group(1).split("|")[0] if nested_as_first else " ", rest)
    return groups, rest, "{" not in rest and "}" not in rest


def _shape(line: str) -> str:
    """What a stripped content line looks like: "tsv", "spintax" (brace groups inside text),
    "group" (``|``-separated, stray braces allowed), "colon-list", "equals-list" or "other"."""
    if "\t" in line:
        return "tsv"
    if "{" in line or "}" in line:
        groups, rest, balanced = _unbrace(line)
        if balanced and any("|" in g for g in groups):
            stray = "|" in rest or (len(groups) == 1 and not rest.strip())
            return "group" if stray else "spintax"
        return "other"
    m = _LIST.match(line)
    if m and m.group(3).strip():
        return "colon-list" if m.group(2) == ":" else "equals-list"
    return "group" if "|" in line else "other"


def _detect(shapes: Counter) -> str | None:
    """The file's format from its line shapes (see ``_shape``), or None when nothing fits.
    Spintax wins when its lines are at least as many as all line-per-group lines; otherwise the
    most frequent shape (ties: groups, table-v1, colon-list, equals-list)."""
    per_line = (("groups", "group"), ("table-v1", "tsv"), ("colon-list", "colon-list"), ("equals-list", "equals-list"))
    if shapes["spintax"] and shapes["spintax"] >= sum(shapes[s] for _, s in per_line):
        return "spintax"
    count, _, fmt = max((shapes[s], -i, f) for i, (f, s) in enumerate(per_line))
    return fmt if count else None


# --------------------------------------------------------------------------- items and entries


@lru_cache(maxsize=200_000)
def _base_pos(word: str) -> frozenset[str]:
    """Parts of speech for which ``word`` is its own lemma in lemminflect's lexicon."""
    from lemminflect import getAllLemmas

    lower = word.lower()
    return frozenset(p for p, lemmas in getAllLemmas(lower).items() if p in _INFLECTING and lower in lemmas)


@lru_cache(maxsize=200_000)
def _in_lexicon(word: str) -> bool:
    from lemminflect import getAllLemmas

    return bool(getAllLemmas(word.lower()))


def infer_pos(head: str, substitutes: tuple[str, ...]) -> str:
    """How an entry inflects (see ``table.inflections``): the part of speech a single-word head and
    every substitute share as base forms in lemminflect's lexicon; when they share several, VERB
    before NOUN before ADJ (a verb's -s form is also the noun plural; ADJ degrees exist for few
    words). X (literal) for multiword heads and when nothing is shared. A multiword substitute is
    tested on the word that inflects: its first for VERB, its last for NOUN (ADJ skips it).
    """
    if " " in head:
        return "X"
    shared = set(_base_pos(head))
    for item in substitutes:
        words = item.split(" ")
        if len(words) == 1:
            shared &= _base_pos(item)
        else:
            shared &= {"VERB"} & _base_pos(words[0]) | {"NOUN"} & _base_pos(words[-1]) | {"ADJ"}
        if not shared:
            return "X"
    return next(p for p in _INFLECTING if p in shared)


def _clean(item: str) -> str:
    """An item with braces removed, spaces collapsed, and a capital dropped when it only marks a
    sentence start ("Table" -> "table"; "Monday", "Armed Forces" and "USA" keep theirs)."""
    item = " ".join(item.replace("{", " ").replace("}", " ").split())
    if item[:1].isupper() and item[1:] == item[1:].lower() and _in_lexicon(item.split(" ")[0]):
        return item.lower()
    return item


def _group_entry(items: list[str], source: str) -> tuple[Entry | None, list[str]]:
    """(entry of head ``items[0]`` and the other items, notes) or (None, [reason])."""
    notes: list[str] = []
    kept: dict[str, str] = {}
    for raw in items:
        item = _clean(raw)
        if not item or not norms(item):
            continue
        if len(item.split(" ")) > MAX_ITEM_WORDS:
            notes.append(f"item longer than {MAX_ITEM_WORDS} words left out: {item[:40]!r}")
            continue
        kept.setdefault(" ".join(norms(item)), item)
    if not kept:
        return None, ["no items"]
    head, *subs = kept.values()
    if not subs:
        return None, [f"no substitutes for {head!r}"]
    kind = "phrase" if " " in head else "word"
    return Entry(head, tuple(subs), infer_pos(head, tuple(subs)), kind, source), notes


def _entry_key(e: Entry) -> tuple:
    return (" ".join(norms(e.original)), frozenset(" ".join(norms(s)) for s in e.substitutes))


# --------------------------------------------------------------------------- formats


def _read_lines(d: Dictionary, lines: list[tuple[int, str]], name: str) -> None:
    """Groups and word lists: one entry per line; exact duplicates (up to case and item order) skipped."""
    seen: dict[tuple, int] = {}
    for n, line in lines:
        shape = _shape(line)
        if d.format == "groups" and shape == "group":
            items = line.split("|")
        elif d.format in ("colon-list", "equals-list") and shape in ("colon-list", "equals-list"):
            head, _, rest = _LIST.match(line).groups()  # type: ignore[union-attr]
            items = [head, *_LIST_SPLIT.split(rest)]
        else:
            d.bad_line(n, f"not a {d.format} line: {line[:60]!r}")
            continue
        entry, notes = _group_entry(items, f"{name}:{n}")
        if entry is None:
            d.bad_line(n, notes[0])
            continue
        d.problems.extend(f"{name}:{n}: {note}" for note in notes)
        d.groups += 1
        key = _entry_key(entry)
        if key in seen:
            d.skipped += 1
            d.problems.append(f"{name}:{n}: duplicate of line {seen[key]}")
            continue
        seen[key] = n
        d.entries.append(entry)


def _read_spintax(d: Dictionary, lines: list[tuple[int, str]], name: str) -> None:
    """Every brace group with two or more distinct items, read once however often it recurs."""
    seen_groups: set[frozenset] = set()
    for n, line in lines:
        if "{" not in line and "}" not in line:
            continue
        groups, _, balanced = _unbrace(line, nested_as_first=True)
        if not balanced:
            d.bad_line(n, "unbalanced braces")
        for g in groups:
            items = [_clean(i) for i in g.split("|")]
            items = [i for i in dict.fromkeys(items) if i and norms(i)]
            key = frozenset(" ".join(norms(i)) for i in items)
            if len(key) < 2 or key in seen_groups:
                continue
            seen_groups.add(key)
            d.groups += 1
            for i in range(len(items)):
                entry, _ = _group_entry([items[i], *items[:i], *items[i + 1 :]], f"{name}:{n}")
                if entry is not None:
                    d.entries.append(entry)


def _read_table_v1(d: Dictionary, lines: list[tuple[int, str]], name: str, kind: str) -> None:
    """Format v1 through ``table.parse_lines`` (its own pos and the file-name kind)."""
    by_number = dict(lines)
    entries, problems = parse_lines([by_number.get(n, "") for n in range(1, max(by_number, default=0) + 1)], kind, name)
    d.entries, d.groups = entries, len(entries)
    used = {int(e.source.rsplit(":", 1)[1]) for e in entries}
    for n, _ in lines:
        if n not in used:
            why = [p.split(": ", 1)[1] for p in problems if p.startswith(f"{name}:{n}: ")]
            d.bad_line(n, why[-1] if why else "skipped")
    d.problems = problems  # the v1 parser's messages, in line order, warnings included


def parse_dictionary(data: bytes, path: Path | str) -> Dictionary:
    """Parse a dictionary file's bytes, format detected from the content.

    Raises ``DictionaryError`` naming the file and line when the bytes are binary, yield no entries,
    or more than ``MALFORMED_SHARE`` of the non-blank, non-comment lines (for spintax: of the lines
    with braces) do not fit the detected format.
    """
    path = Path(path)
    all_lines, content, encoding = dictionary_lines(data, path)
    if not content:
        raise DictionaryError(path, None, "no entries: the file is empty or holds only comments")
    fmt = _detect(Counter(_shape(line) for _, line in content))
    if fmt is None:
        raise DictionaryError(
            path, content[0][0], "no dictionary lines: expected tab-separated table lines, 'a|b|c' groups, 'word: a, b' lists or {a|b} spintax"
        )
    d = Dictionary(path, fmt, encoding, lines=len(all_lines))
    name = path.name
    if fmt == "table-v1":
        # tabs inside a line are columns here, so the untouched line goes to the v1 parser
        _read_table_v1(d, [(n, all_lines[n - 1]) for n, _ in content], name, kind_of(path))
    elif fmt == "spintax":
        _read_spintax(d, content, name)
    else:
        _read_lines(d, content, name)
    d.skipped += d.malformed
    checked = sum(1 for _, line in content if fmt != "spintax" or "{" in line or "}" in line)
    if not d.entries or d.malformed > MALFORMED_SHARE * checked:
        line, reason = d.first_malformed or (content[0][0], "")
        what = "no entries" if not d.entries else f"{d.malformed} of {checked} lines are malformed (more than {MALFORMED_SHARE:.0%})"
        raise DictionaryError(path, line, f"{what} for format {fmt}" + (f"; first: {reason}" if reason else ""))
    return d
