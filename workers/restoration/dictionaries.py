"""Spinner dictionaries in their own formats: read, compile into tables, cache.

A spinner's dictionary is read as it ships, its format detected from the content (formats in
``data/README.md``; readers in ``dictionary_formats.py``): this project's table format v1, synonym
groups (``possible|doable|achievable``), ``word: syn, syn`` / ``word=syn,syn`` lists and spintax
documents (``{a|b|c}``).

- ``read_dictionary(path)`` -> :class:`Dictionary` (format, encoding, entries, problems, counts);
- ``compile_dictionary(path)`` -> ``table.SpinnerTable`` of that file alone (one per imported
  spinner), inflected and indexed once, then loaded from a cache keyed by a hash of the code
  version, the file name and its bytes;
- ``merge_tables`` joins tables, as ``UNSPUN_EXTRA_TABLES`` files are joined to the shipped table.

Errors: :class:`DictionaryError` (a ``ValueError``) with the file and line.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

from workers.restoration import table as tbl
from workers.restoration.dictionary_formats import FORMATS, MALFORMED_SHARE, Dictionary, DictionaryError, parse_dictionary
from workers.restoration.table import Candidate, SpinnerTable, Substitute

__all__ = [
    "FORMATS", "MALFORMED_SHARE", "Dictionary", "DictionaryError", "check_dictionary", "compile_all",
    "compile_dictionary", "dictionary_files", "merge_tables", "read_dictionary",
]

# Bump when reading or compiling changes, to invalidate cached dictionaries.
CODE_VERSION = "d3"
_MEMO_SIZE = 8
_memo: dict[str, SpinnerTable] = {}  # version -> table: a file compiled twice in one process loads once


def read_dictionary(path: Path | str) -> Dictionary:
    """Read a spinner dictionary in any supported format (detected from its content).

    Raises ``DictionaryError`` (a ``ValueError``) naming the file and line when the file cannot be
    read, yields no entries, or more than ``MALFORMED_SHARE`` of its non-blank, non-comment lines
    (for spintax: of its lines with braces) do not fit the detected format.
    """
    path = Path(path)
    return parse_dictionary(_read(path), path)


def dictionary_files(paths: list[Path]) -> list[Path]:
    """Files named by a setting such as ``UNSPUN_EXTRA_TABLES``: each file as is, and every visible
    file of each folder (sorted, not recursive). Raises ``DictionaryError`` for a missing path or a
    folder without files."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
            if not found:
                raise DictionaryError(p, None, "folder holds no dictionary files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise DictionaryError(p, None, "no such file or folder")
    return files


def dictionary_version(path: Path, data: bytes) -> str:
    """12 hex digits of SHA-256 over the code versions, the file name (it sets table-v1 kinds and
    problem messages) and the file's bytes."""
    h = hashlib.sha256(f"{CODE_VERSION}/{tbl._CODE_VERSION}/{path.name}\0".encode())
    h.update(data)
    return h.hexdigest()[:12]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DictionaryError(path, None, f"cannot read: {exc.strerror or exc}") from None


def _cache_path(cache_dir: Path | str | None, version: str) -> Path:
    return Path(cache_dir or tbl.DEFAULT_CACHE_DIR) / f"dictionary-{version}.pkl"


def compile_dictionary(path: Path | str, cache_dir: Path | str | None = None, *, use_cache: bool = True) -> SpinnerTable:
    """The compiled table of one spinner dictionary file.

    ``entries`` are the file's (``read_dictionary``), inflected and indexed by ``table.build_table``;
    ``problems`` lists its skipped lines; ``version`` is ``dictionary_version``. Loaded from
    ``cache_dir`` (default ``~/.cache/unspun``) when compiled before with the same code and bytes:
    a 15,000-group dictionary compiles in about 5 s of CPU and loads in 0.3 s (``bench/dictionaries.py``).
    Only usable dictionaries are cached; ``use_cache=False`` neither reads nor writes the cache.
    A table compiled in this process is returned again (the same object) for the same bytes.
    Raises ``DictionaryError``.
    """
    path = Path(path)
    data = _read(path)
    version = dictionary_version(path, data)
    if version in _memo:
        return _memo[version]
    cpath = _cache_path(cache_dir, version)
    t = tbl.read_cache(cpath, version) if use_cache else None
    if t is None:
        d = parse_dictionary(data, path)
        t = tbl.build_table(d.entries, version=version)
        t.problems = d.problems
        if use_cache:
            tbl.write_cache(t, cpath)
    if len(_memo) >= _MEMO_SIZE:
        _memo.pop(next(iter(_memo)))
    _memo[version] = t
    return t


def check_dictionary(path: Path | str, cache_dir: Path | str | None = None) -> str:
    """Make sure a dictionary file is usable and compiled into the cache, without loading it into
    this process (for one that only starts others, such as ``unspun worker``); returns its version.

    A cached compile counts as checked. Otherwise the file is compiled in a short-lived child
    process, so that the inflection lexicon and the compile's peak (285 MB for 15,000 groups; 143
    MB of it stayed resident) never weigh on a long-lived one. Raises ``DictionaryError``.
    """
    path = Path(path)
    version = dictionary_version(path, _read(path))
    if version not in _memo and not _cache_path(cache_dir, version).is_file():
        spawn = multiprocessing.get_context("spawn")  # no copy of this process's memory or threads
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            pool.submit(_compile_only, path, cache_dir).result()
    return version


def _compile_only(path: Path, cache_dir: Path | str | None) -> None:
    compile_dictionary(path, cache_dir)


def merge_tables(tables: Sequence[SpinnerTable]) -> SpinnerTable:
    """One table holding the entries of all ``tables``, as ``table.build_table`` would have built
    it from their entries together: weights of a pair found in several tables add up (capped at 1),
    the first table's inflection tag is kept. ``version`` hashes the parts' versions. The parts are
    not changed (lists found in one part only are shared, not copied)."""
    if len(tables) == 1:
        return tables[0]
    reverse: dict[tuple[str, ...], list[Candidate]] = {}
    forward: dict[tuple[str, ...], list[Substitute]] = {}
    with tbl.gc_paused():
        for t in tables:
            for index, part in ((reverse, t.reverse), (forward, t.forward)):
                for key, items in part.items():
                    have = index.get(key)
                    index[key] = items if have is None else _add(have, items)
    h = hashlib.sha256("+".join(t.version for t in tables).encode())
    return SpinnerTable(
        entries=[e for t in tables for e in t.entries],
        reverse=reverse,
        forward=forward,
        max_len=max(t.max_len for t in tables),
        version=h.hexdigest()[:12],
        problems=[p for t in tables for p in t.problems],
    )


def _add(have: list, items: list) -> list:
    """Candidates (or substitutes) of one key from two tables: same (form, kind) weights summed."""
    out = {(x[0], x[1]): x for x in have}
    for x in items:
        old = out.get((x[0], x[1]))
        out[(x[0], x[1])] = x if old is None else old._replace(weight=min(1.0, old.weight + x.weight))
    return list(out.values())


def compile_all(paths: Sequence[Path], cache_dir: Path | str | None = None) -> list[SpinnerTable]:
    """``compile_dictionary`` of every file named by ``paths`` (files or folders, see
    ``dictionary_files``), in order: one table per imported spinner."""
    return [compile_dictionary(f, cache_dir) for f in dictionary_files(list(paths))]
