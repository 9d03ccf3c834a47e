"""Readers of the evaluation corpora under the shared data directory (``<shared>/corpora``, ``<shared>/datasets``,
``<shared>/examples``). Each returns plain ``(doc_id, text)`` pairs or dicts; none writes anything.

- Senate press releases: only the files held out of the n-gram model
  (``workers.restoration.build.ngram.is_held_out``), so the context model never saw them.
- OneStopEnglish "Adv" texts (Guardian-derived news, CC BY-SA 4.0): clean news.
- GUM Wikinews news + interview text (CC BY 2.5): clean news.
- Spun-news examples (``examples/spun-news``): hand-spun items with originals.
- Tortured phrases (``datasets/tortured-phrases``, CC BY 4.0): spun -> expected scientific phrases.

Without the shared directory, ``bundled_senate`` and ``bundled_pps`` read the small set of the reported
split that ships in ``workers/evaluation/data`` (made by ``bundle.py``; sources in its ``SOURCE.md``).
"""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path
from typing import Iterator

SENATE = Path("corpora") / "grimmer_senate_press_releases"
OSE_TAR = Path("corpora") / "onestopenglish" / "onestopenglish_texts_by_level.tar.gz"
GUM_TEXT = Path("corpora") / "gum_wikinews" / "gum_wikinews_news_interview_text.txt.gz"
SPUN_NEWS = Path("examples") / "spun-news"
TORTURED = Path("datasets") / "tortured-phrases" / "tortured-phrases.json"
BUNDLED = Path(__file__).resolve().parent / "data"


def senate_held_out(shared: Path, limit: int | None = None, min_words: int = 60) -> Iterator[tuple[str, str]]:
    """Held-out Senate press releases as (member name, text), in tar order; at most ``limit``;
    documents shorter than ``min_words`` whitespace words are skipped."""
    from workers.restoration.build.ngram import iter_documents

    n = 0
    for name, text in iter_documents(shared / SENATE, held_out=True, progress=False):
        if len(text.split()) < min_words:
            continue
        yield name, text
        n += 1
        if limit is not None and n >= limit:
            return


def onestop_advanced(shared: Path, limit: int | None = None) -> list[tuple[str, str]]:
    """OneStopEnglish advanced-level texts as (file name, text), sorted by name; BOMs removed."""
    out: list[tuple[str, str]] = []
    with tarfile.open(shared / OSE_TAR, "r:gz") as tf:
        for m in tf:
            if m.isfile() and "/Adv-Txt/" in m.name and m.name.endswith(".txt"):
                data = tf.extractfile(m).read()
                out.append((Path(m.name).name, data.decode("utf-8", errors="replace").lstrip("\ufeff")))
    out.sort()
    return out[:limit] if limit is not None else out


def gum_wikinews(shared: Path) -> list[tuple[str, str]]:
    """GUM Wikinews/interview documents as (doc id, text), one sentence per line."""
    docs: dict[str, list[str]] = {}
    cur = None
    with gzip.open(shared / GUM_TEXT, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("# doc "):
                cur = line[6:].strip()
                docs.setdefault(cur, [])
            elif line and cur is not None:
                docs[cur].append(line)
    return [(k, "\n".join(v)) for k, v in docs.items()]


def spun_news_examples(shared: Path) -> list[tuple[str, str, str]]:
    """Hand-spun examples as (id, spun text, original text)."""
    d = shared / SPUN_NEWS
    out = []
    for p in sorted(d.glob("*.spun.txt")):
        nn = p.name.split(".")[0]
        orig = d / f"{nn}.original.txt"
        if orig.exists():
            out.append((nn, p.read_text(encoding="utf-8"), orig.read_text(encoding="utf-8")))
    return out


def tortured_phrases(shared: Path) -> list[tuple[str, str]]:
    """(tortured phrase, expected phrase) pairs."""
    data = json.loads((shared / TORTURED).read_text(encoding="utf-8"))
    return [(p["tortured"], p["correct"]) for p in data.get("phrases", []) if p.get("tortured") and p.get("correct")]


def bundled_senate() -> list[tuple[str, str]]:
    """The bundled held-out Senate press releases (reported split) as (member name, text)."""
    lines = (BUNDLED / "senate_report.jsonl").read_text(encoding="utf-8").splitlines()
    return [(d["id"], d["text"]) for d in map(json.loads, lines)]


def bundled_pps() -> list[tuple[str, str]]:
    """The bundled slice of the PPS report half as (tortured phrase, expected phrase) pairs."""
    data = json.loads((BUNDLED / "pps_report.json").read_text(encoding="utf-8"))
    return [(p["tortured"], p["correct"]) for p in data["pairs"]]
