"""Spinner families: the restorer's knowledge, one spinner dictionary per family.

A family is the dictionary of one spinner (or of spinners that share one): the shipped news table
(``news``), the WordNet-synset family generated from WordNet 3.0 (``wordnet``), each dictionary a user
imports through ``UNSPUN_EXTRA_TABLES`` (``import:<file stem>``), and what the stream learns
(``learned``). The restorer weighs each family's article-level evidence separately, attributes the
article to the strongest one (or to none) and draws candidate originals from the families in proportion
to their posterior (``Restorer.restore``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from workers.restoration.table import SpinnerTable, build_table, cached_table, default_table

FAMILIES_DIR = Path(__file__).parent / "data" / "families"
WORDNET_DIR = FAMILIES_DIR / "wordnet"


@dataclass
class Family:
    """One spinner family.

    ``name``: shown in events (``spinner.family``); ``table``: its dictionary, indexed;
    ``prior``: log-odds (nats) added to its article evidence before attribution: a user's imported
    dictionary is likelier a priori than a broad general family (tuned on the benchmark's tuning split).
    """

    name: str
    table: SpinnerTable
    prior: float = 0.0


# Family priors, nats. WordNet relates almost every word to another, so a clean article always holds
# a few of its "substitutes": it must show more evidence than the news family before it is believed.
PRIORS = {"news": 0.0, "wordnet": -4.0, "learned": 0.0, "import": 1.0}


def news_family(cache_dir: Path | str | None = None) -> Family:
    """The shipped news table (``data/spinner_table``), compiled once, cached, loaded once per process."""
    return Family("news", default_table(cache_dir), PRIORS["news"])


def wordnet_family(cache_dir: Path | str | None = None) -> Family | None:
    """The WordNet-synset family (``data/families/wordnet``), loaded once per process, or ``None``
    when it is not shipped."""
    if not WORDNET_DIR.is_dir() or not any(WORDNET_DIR.glob("*.tsv")):
        return None
    return Family("wordnet", cached_table(WORDNET_DIR, cache_dir), PRIORS["wordnet"])


def imported_families(paths: Sequence[Path | str], cache_dir: Path | str | None = None) -> list[Family]:
    """One family per imported dictionary file (a folder gives one per dictionary file inside, see
    ``dictionaries.dictionary_files``).

    Any format ``workers.restoration.dictionaries`` reads; raises its ``DictionaryError`` (naming file
    and line) for a file that yields no entries or is mostly malformed.
    """
    from workers.restoration.dictionaries import compile_dictionary, dictionary_files

    files = dictionary_files(list(paths))
    out: list[Family] = []
    names: set[str] = set()
    for f in files:
        name = f"import:{f.stem}"
        k = 2
        while name in names:  # two files of one stem in different folders stay apart
            name, k = f"import:{f.stem}-{k}", k + 1
        names.add(name)
        out.append(Family(name, compile_dictionary(f, cache_dir=cache_dir), PRIORS["import"]))
    return out


def learned_family(entries) -> Family:
    """A family built from learned entries (``table.Entry`` list), e.g. substitutions learned from the
    stream's aligned source/copy pairs."""
    return Family("learned", build_table(list(entries), version=f"learned-{len(entries)}"), PRIORS["learned"])


def shipped_families(
    extra: Sequence[Path | str] = (), cache_dir: Path | str | None = None, wordnet: bool = True
) -> list[Family]:
    """The shipped families (news, WordNet when shipped and ``wordnet``) plus one per imported file.

    New ``Family`` objects each call, over tables loaded once per process: the shipped ones per
    ``cache_dir`` (``table.cached_table``), imported ones per file name and bytes
    (``dictionaries.compile_dictionary``), so repeated calls (the evaluation builds several
    restorers) cost no reloading, and an edited import file is read again."""
    fams = [news_family(cache_dir)]
    wn = wordnet_family(cache_dir) if wordnet else None
    if wn is not None:
        fams.append(wn)
    return fams + imported_families(extra, cache_dir)
