"""The spinner table: loading, inflection and the forward/reverse indexes.

Reads every ``*.tsv`` file of a table directory (format in ``data/README.md``), expands each entry
into its inflected forms with lemminflect, and builds two indexes keyed by token tuples
(``tokens.norms``):

- ``reverse``: spun form -> candidate originals (used by the restorer);
- ``forward``: original form -> substitutes (used by the spinner emulation).

Data: ``data/spinner_table/*.tsv`` written for this project, plus optional spinner dictionaries of
the user's (any format, read and compiled by ``dictionaries.py``).
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

from workers.restoration.tokens import norms

DEFAULT_TABLE_DIR = Path(__file__).parent / "data" / "spinner_table"
KINDS = ("word", "phrase", "grammar", "name", "number")
POS_VALUES = ("VERB", "NOUN", "ADJ", "X")
_VERB_TAGS = ("VBD", "VBN", "VBG", "VBZ")
_ADJ_TAGS = ("JJR", "JJS")


class Candidate(NamedTuple):
    """One possible original behind a spun form.

    ``original``: surface form to restore (table case, inflected like the spun form);
    ``kind``: table part (file-name prefix); ``weight``: probability in (0, 1] that the spinner
    picks this spun form when it rewrites this original (1 / number of substitutes of the entry,
    summed when several entries give the same pair); ``tag``: inflection tag ("" for base form).
    """

    original: str
    kind: str
    weight: float
    tag: str


class Substitute(NamedTuple):
    """One form a spinner may put in place of an original: ``text``, ``kind`` and ``weight``."""

    text: str
    kind: str
    weight: float


class TableFormatError(ValueError):
    """A table line does not follow format v1 (see ``data/README.md``)."""


@dataclass(frozen=True)
class Entry:
    """One table line: ``original``, its ``substitutes`` (base forms), ``pos`` and ``kind``;
    ``source`` is "file:line" for messages."""

    original: str
    substitutes: tuple[str, ...]
    pos: str
    kind: str
    source: str = ""


@dataclass
class SpinnerTable:
    """A loaded spinner table.

    ``reverse``: {spun token tuple: [Candidate, ...]}; ``forward``: {original token tuple:
    [Substitute, ...]}; ``originals``: {original token tuple: (surface, kind)} for every inflected
    original; ``max_len``: longest key in tokens; ``version``: 12-hex-digit hash of the files'
    bytes; ``problems``: format problems found (lines skipped), as "file:line: message".
    """

    entries: list[Entry]
    reverse: dict[tuple[str, ...], list[Candidate]] = field(default_factory=dict)
    forward: dict[tuple[str, ...], list[Substitute]] = field(default_factory=dict)
    max_len: int = 1
    version: str = ""
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)

    def without(self, originals: Iterable[str]) -> "SpinnerTable":
        """A copy whose entries with these (lower-cased) originals are removed (for evaluation)."""
        drop = {o.lower() for o in originals}
        kept = [e for e in self.entries if e.original.lower() not in drop]
        t = build_table(kept, version=self.version + "-w" + str(len(self.entries) - len(kept)))
        t.problems = list(self.problems)
        return t


# --------------------------------------------------------------------------- parsing


def kind_of(path: Path) -> str:
    """Edit kind of a table file: its name up to the first ``_`` or ``.`` ("word_verbs.tsv" -> "word").
    Unknown prefixes map to "word"."""
    stem = path.name.split(".", 1)[0].split("_", 1)[0].lower()
    return stem if stem in KINDS else "word"


def parse_lines(lines: Iterable[str], kind: str, source: str = "") -> tuple[list[Entry], list[str]]:
    """Parse table lines into entries; returns (entries, problems). Bad lines are skipped, not raised."""
    entries: list[Entry] = []
    problems: list[str] = []
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n").lstrip("\ufeff")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) == 2:
            cols.append("X")
            problems.append(f"{source}:{n}: no pos column, taken as X")
        if len(cols) != 3:
            problems.append(f"{source}:{n}: expected 3 tab-separated columns, got {len(cols)}")
            continue
        orig, subs, pos = cols[0].strip(), cols[1], cols[2].strip().upper()
        if pos not in POS_VALUES:
            problems.append(f"{source}:{n}: unknown pos {pos!r}, taken as X")
            pos = "X"
        sub_list = tuple(dict.fromkeys(s.strip() for s in subs.split("|") if s.strip() and s.strip() != orig))
        if not orig or not norms(orig):
            problems.append(f"{source}:{n}: empty original")
            continue
        if not sub_list:
            problems.append(f"{source}:{n}: no substitutes")
            continue
        entries.append(Entry(orig, sub_list, pos, kind, f"{source}:{n}"))
    return entries, problems


def table_files(table_dir: Path | str | None = None) -> list[Path]:
    """The ``*.tsv`` files of the table directory (default ``data/spinner_table``), sorted."""
    d = Path(table_dir) if table_dir is not None else DEFAULT_TABLE_DIR
    return sorted(d.glob("*.tsv")) if d.is_dir() else ([d] if d.is_file() else [])


def split_paths(raw: str) -> list[Path]:
    """Paths from a setting such as ``UNSPUN_EXTRA_TABLES`` (``os.pathsep``- or comma-separated)."""
    return [Path(p.strip()) for p in raw.replace(",", os.pathsep).split(os.pathsep) if p.strip()]


# --------------------------------------------------------------------------- inflection


def _inflect_word(word: str, tag: str, upos: str) -> tuple[str, ...]:
    from lemminflect import getInflection

    lower = word.lower()
    if not lower.isalpha():
        return ()
    forms = getInflection(lower, tag=tag, inflect_oov=True) or ()
    out = tuple(_copy_case(word, f) for f in forms)
    return out


def _lexicon_forms(word: str, upos: str) -> dict[str, tuple[str, ...]]:
    from lemminflect import getAllInflections

    return getAllInflections(word.lower(), upos=upos) or {}


def _copy_case(model: str, word: str) -> str:
    if model[:1].isupper() and not model.isupper():
        return word[:1].upper() + word[1:]
    if model.isupper() and len(model) > 1:
        return word.upper()
    return word


def _replace_word(phrase: str, index: int, form: str) -> str:
    parts = phrase.split(" ")
    parts[index] = form
    return " ".join(parts)


def inflections(entry: Entry) -> list[tuple[str, str, list[str]]]:
    """All (tag, original form, [substitute forms]) of an entry, the base form first with tag "".

    VERB inflects the first word of both sides (VBD, VBN, VBG, VBZ); NOUN pluralises the last word
    (NNS); ADJ adds comparative and superlative (JJR, JJS) of single-word adjectives only when both
    sides have them in the lexicon; X is literal.
    """
    out = [("", entry.original, list(entry.substitutes))]
    if entry.pos == "VERB":
        for tag in _VERB_TAGS:
            first = entry.original.split(" ")[0]
            oforms = _inflect_word(first, tag, "VERB")
            if not oforms:
                continue
            subs: list[str] = []
            for s in entry.substitutes:
                sfirst = s.split(" ")[0]
                for f in _inflect_word(sfirst, tag, "VERB"):
                    subs.append(_replace_word(s, 0, f))
            out.append((tag, _replace_word(entry.original, 0, oforms[0]), subs))
    elif entry.pos == "NOUN":
        last_i = len(entry.original.split(" ")) - 1
        olast = entry.original.split(" ")[-1]
        oforms = [f for f in _inflect_word(olast, "NNS", "NOUN") if f.lower() != olast.lower()] or list(
            _inflect_word(olast, "NNS", "NOUN")
        )
        if oforms:
            subs = []
            for s in entry.substitutes:
                words = s.split(" ")
                slast = words[-1]
                sforms = [f for f in _inflect_word(slast, "NNS", "NOUN") if f.lower() != slast.lower()]
                for f in sforms[:1]:
                    subs.append(_replace_word(s, len(words) - 1, f))
            out.append(("NNS", _replace_word(entry.original, last_i, oforms[0]), subs))
    elif entry.pos == "ADJ" and " " not in entry.original:
        olex = _lexicon_forms(entry.original, "ADJ")
        for tag in _ADJ_TAGS:
            if tag not in olex:
                continue
            subs = []
            for s in entry.substitutes:
                if " " in s:
                    continue
                slex = _lexicon_forms(s, "ADJ")
                if tag in slex:
                    subs.append(_copy_case(s, slex[tag][0]))
            if subs:
                out.append((tag, _copy_case(entry.original, olex[tag][0]), subs))
    return out


# --------------------------------------------------------------------------- building


def build_table(entries: list[Entry], version: str = "") -> SpinnerTable:
    """Index entries forwards and backwards (see ``SpinnerTable``).

    A pair reached through several inflection tags of one entry counts once (weight of the entry);
    pairs from different entries add up (capped at 1).
    """
    reverse: dict[tuple[str, ...], dict[tuple[str, str], dict[int, tuple[float, str]]]] = {}
    forward: dict[tuple[str, ...], dict[tuple[str, str], dict[int, float]]] = {}
    for eid, e in enumerate(entries):
        w = 1.0 / len(e.substitutes)
        for tag, orig, subs in inflections(e):
            okey = tuple(norms(orig))
            if not okey or not subs:
                continue
            fwd = forward.setdefault(okey, {})
            for s in subs:
                skey = tuple(norms(s))
                if not skey or skey == okey:
                    continue
                fwd.setdefault((s, e.kind), {})[eid] = w
                reverse.setdefault(skey, {}).setdefault((orig, e.kind), {}).setdefault(eid, (w, tag))
    t = SpinnerTable(entries=entries, version=version)
    t.reverse = {
        k: [
            Candidate(o, kd, min(1.0, sum(w for w, _ in by.values())), next(iter(by.values()))[1])
            for (o, kd), by in v.items()
        ]
        for k, v in reverse.items()
    }
    t.forward = {
        k: [Substitute(s, kd, min(1.0, sum(by.values()))) for (s, kd), by in v.items()] for k, v in forward.items()
    }
    t.max_len = max([len(k) for k in t.reverse] + [len(k) for k in t.forward] + [1])
    return t


_CODE_VERSION = "1"  # bump when the expansion rules change, to invalidate compiled caches


DEFAULT_CACHE_DIR = Path.home() / ".cache" / "unspun"


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the garbage collector while building or loading indexes: their many small containers
    would trigger full collections that take most of the time (a 15,000-group dictionary loads in
    0.09 s instead of 0.43 s). Nothing built there is cyclic garbage."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_cache(path: Path, version: str) -> SpinnerTable | None:
    """The compiled table cached at ``path`` if it holds ``version``, else None (never raises)."""
    try:
        with gc_paused(), open(path, "rb") as fh:
            t = pickle.load(fh)
        return t if isinstance(t, SpinnerTable) and t.version == version else None
    except Exception:
        return None


def write_cache(table: SpinnerTable, path: Path) -> None:
    """Pickle ``table`` to ``path`` atomically (temporary file, then rename); failures are ignored."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(table, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except Exception:
        pass


def load_table(
    table_dir: Path | str | None = None,
    *,
    use_cache: bool = True,
    cache_dir: Path | str | None = None,
) -> SpinnerTable:
    """Load and index a table directory in format v1 (default ``data/spinner_table``).

    The directory's ``*.tsv`` files never raise for malformed lines (they are skipped and listed in
    ``problems``); an empty or missing directory gives an empty table. Dictionaries of other formats
    are read by ``dictionaries.compile_dictionary``, one family each. ``version`` hashes the files'
    names and bytes. Compiled indexes are cached as pickles keyed by ``version`` in ``cache_dir``
    (default ``~/.cache/unspun``; the project's own files, never message data), because the
    inflection step takes seconds for thousands of entries; cache failures are ignored.
    """
    h = hashlib.sha256(_CODE_VERSION.encode())
    blobs: list[tuple[Path, bytes]] = []
    for f in table_files(table_dir):
        data = f.read_bytes()
        h.update(f.name.encode() + b"\0" + data)
        blobs.append((f, data))
    version = h.hexdigest()[:12]
    cpath = Path(cache_dir or DEFAULT_CACHE_DIR) / f"table-{version}.pkl"
    t = read_cache(cpath, version) if use_cache else None
    if t is None:
        entries: list[Entry] = []
        problems: list[str] = []
        for f, data in blobs:
            es, ps = parse_lines(data.decode("utf-8", errors="replace").splitlines(), kind_of(f), f.name)
            entries.extend(es)
            problems.extend(ps)
        t = build_table(entries, version=version)
        t.problems = problems
        if use_cache:
            write_cache(t, cpath)
    return t


@lru_cache(maxsize=4)
def _cached(table_dir: str, cache_dir: str | None) -> SpinnerTable:
    t = load_table(table_dir, cache_dir=cache_dir)
    # The table lives as long as the process: move its objects out of the collector's generations,
    # so the full collections of later loading and of every article do not scan them again (with a
    # 15,000-group dictionary the restorer's start-up took 0.9 s of CPU instead of 0.4 s).
    gc.freeze()
    return t


def cached_table(table_dir: Path | str, cache_dir: Path | str | None = None) -> SpinnerTable:
    """``load_table(table_dir, cache_dir=cache_dir)`` loaded once per process for each (table folder,
    cache folder), for shipped tables, whose files do not change while the process runs. The same
    object is returned each time: callers must not change it."""
    return _cached(str(table_dir), str(cache_dir) if cache_dir else None)


def default_table(cache_dir: Path | str | None = None) -> SpinnerTable:
    """The shipped news table, loaded once per process."""
    return cached_table(DEFAULT_TABLE_DIR, cache_dir)
