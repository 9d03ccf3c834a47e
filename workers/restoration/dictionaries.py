"""Spinner dictionaries in their own formats: read, compile into tables, cache.

A spinner's dictionary is read as it ships, its format detected from the content (formats in
``data/README.md``; readers in ``dictionary_formats.py``): this project's table format v1, synonym
groups (``possible|doable|achievable``), ``word: syn, syn`` / ``word=syn,syn`` lists and spintax
documents (``{a|b|c}``).

- ``read_dictionary(path)`` -> :class:`Dictionary` (format, encoding, entries, problems, counts);
- ``compile_dictionary(path)`` -> ``table.SpinnerTable`` of that file alone (one per imported
  spinner), inflected and indexed once, then loaded from a cache keyed by a hash of the code
  version, the file name and its bytes;
- each file named by ``UNSPUN_EXTRA_TABLES`` becomes a spinner family of its own
  (``families.imported_families``).

Errors: :class:`DictionaryError` (a ``ValueError``) with the file and line.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from workers.restoration import table as tbl
from workers.restoration.dictionary_formats import FORMATS, MALFORMED_SHARE, Dictionary, DictionaryError, parse_dictionary
from workers.restoration.table import SpinnerTable

__all__ = [
    "FORMATS", "MALFORMED_SHARE", "Dictionary", "DictionaryError", "check_dictionary",
    "compile_dictionary", "dictionary_files", "read_dictionary",
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
