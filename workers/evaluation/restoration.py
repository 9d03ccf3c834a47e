"""Benchmark of the restorer (``unspun eval``): one row per spinner, headed by spinners whose dictionary
the restorer does not hold.

Rows, in the order printed (metrics in ``scoring.py``: edit precision, word recall, exact restoration,
false edits per 1,000 clean words of the row's documents, words per second on one core):

- ``thesaurus`` (unseen): a thesaurus-group spinner (``spinners.thesaurus_spinner``, LibreOffice
  thesaurus from Debian ``mythes-en-us``) on the reported news documents;
- ``wordnet`` (unseen): the WordNet-synset spinner (``spinners.wordnet_spinner``) against a restorer
  without the WordNet family;
- ``pps`` (unseen): real spinner output, the report half of the PPS tortured phrases (``pps.py``);
- ``known``: spun with the restorer's own table ("known dictionary"), as the benchmark was before;
- ``known_withheld_30pct``: the same spins, a random 30 % of the table's originals withheld from the
  restorer;
- ``dictionary_loaded``: spun with a 15,000-group file built from the thesaurus, the same file loaded
  through the restorer's extra tables (``UNSPUN_EXTRA_TABLES``).

Data are split once: the **reported** split (odd positions of the held-out Senate releases, odd
OneStopEnglish texts, GUM Wikinews, the PPS report half) is only ever scored; the **tuning** split (even
Senate positions, even OneStopEnglish texts, the PPS tuning half) is what ``calibrate.fit`` and any
tuning read (``load_docs(split="tune")``, ``pps_docs(shared, "tune")``). Without the shared corpora the
rows run on a small bundled set of the reported split (``corpora.bundled``).
"""

from __future__ import annotations

import json
import math
import random
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from workers.evaluation import corpora, pps
from workers.evaluation.scoring import Doc, Tally, evaluate, summarise, threshold_curve
from workers.evaluation.spinners import (
    Spinner, group_file_spinner, table_spinner, thesaurus_spinner, wordnet_spinner, words_of,
)
from workers.restoration.restorer import Restorer
from workers.restoration.table import SpinnerTable

WITHHOLD = 0.3
LOADED_GROUPS = 15_000  # groups of the "dictionary loaded" row's file


@dataclass(frozen=True)
class Row:
    """One benchmark row: ``key`` (in restoration.json), ``label`` (printed) and whether the restorer
    holds the spinner's dictionary (``unseen`` rows do not)."""

    key: str
    label: str
    unseen: bool


ROWS = (
    Row("thesaurus", "thesaurus groups, no WordNet family (unseen)", True),
    Row("wordnet", "WordNet synsets, no WordNet family (unseen)", True),
    Row("pps", "PPS tortured phrases, report half (unseen)", True),
    Row("known", "known dictionary (own table)", False),
    Row("known_withheld_30pct", "known dictionary, 30% withheld", False),
    Row("dictionary_loaded", f"dictionary loaded ({LOADED_GROUPS:,} groups)", False),
)


# --------------------------------------------------------------------------- data


def load_docs(shared: Path, quick: bool, split: str = "report") -> list[Doc]:
    """News documents of one split (not yet spun). ``split``: "report" (odd Senate positions, odd
    OneStopEnglish texts, GUM Wikinews) or "tune" (even Senate positions, even OneStopEnglish texts)."""
    if split not in ("report", "tune"):
        raise ValueError(f"split must be 'report' or 'tune', not {split!r}")
    n_senate = 140 if quick else 700
    parity = 1 if split == "report" else 0
    docs = [Doc(name, "senate", text) for k, (name, text) in
            enumerate(corpora.senate_held_out(shared, limit=2 * n_senate)) if k % 2 == parity]
    ose = corpora.onestop_advanced(shared)
    if split == "report":
        docs += [Doc(n, "ose", t) for n, t in ose[1::2][: 40 if quick else None]]
        docs += [Doc(n, "gum", t) for n, t in corpora.gum_wikinews(shared)]
    else:
        docs += [Doc(n, "ose", t) for n, t in ose[0::2]]
    return docs


def pps_docs(shared: Path | None, half: str) -> list[Doc]:
    """PPS documents of one half ("tune" or "report"), spun (``pps.documents``); ``shared=None``
    reads the bundled slice of the report half."""
    if shared is None:
        if half != "report":
            raise ValueError("only the report half is bundled")
        pairs = corpora.bundled_pps()
    else:
        pairs = pps.split(corpora.tortured_phrases(shared))[half]
    return [Doc(i, "pps", clean, spun, spans) for i, clean, spun, spans in pps.documents(pairs)]


def spin_docs(docs: list[Doc], spinner: Spinner, seed: int = 0) -> list[Doc]:
    """Spun copies of ``docs`` (each document its own rate and random stream, from ``seed``)."""
    out = []
    for k, d in enumerate(docs):
        rng = random.Random(seed * 1_000_003 + k)
        spun, spans = spinner.spin(d.clean, rng)
        out.append(replace(d, spun=spun, spans=spans))
    return out


def withheld_table(table: SpinnerTable, share: float = WITHHOLD, seed: int = 0) -> SpinnerTable:
    """``table`` without a random ``share`` of its distinct originals."""
    originals = sorted({e.original.lower() for e in table.entries})
    rng = random.Random(seed)
    drop = rng.sample(originals, int(round(share * len(originals))))
    return table.without(drop)


def row_restorer(row: str, base: Restorer, extra_tables: Sequence[Path] = ()) -> Restorer:
    """The restorer scored in ``row``: the shipped families of ``base`` (its model, calibration and
    threshold), except that ``known_withheld_30pct`` has 30 % of the news table's originals removed,
    ``dictionary_loaded`` adds one family per file of ``extra_tables`` (as ``UNSPUN_EXTRA_TABLES`` loads
    them), and the ``wordnet`` and ``thesaurus`` rows hold no WordNet family (the thesaurus of
    mythes-en-us is itself derived from WordNet, so that family would know its spinner). Every row's
    restorer is made here, so that a change of the restorer's knowledge is made once."""
    from workers.restoration.families import Family, imported_families

    fams = list(base.families)
    if row in ("wordnet", "thesaurus"):
        fams = [f for f in fams if f.name != "wordnet"]
    elif row == "known_withheld_30pct":
        fams = [Family(f.name, withheld_table(f.table, seed=2), f.prior) if f.name == "news" else f for f in fams]
    if extra_tables:
        fams += imported_families(extra_tables)
    return Restorer(families=fams, model=base.model, threshold=base.threshold, calibration=base.cal)


# --------------------------------------------------------------------------- out-of-domain


def eval_examples(restorer: Restorer, shared: Path) -> dict:
    """Hand-spun examples: tokens differing from the original before and after restoration."""
    import difflib

    from workers.restoration.tokens import norms

    def diff(a: str, b: str) -> int:
        x, y = norms(a), norms(b)
        sm = difflib.SequenceMatcher(a=x, b=y, autojunk=False)
        return len(y) - sum(bl.size for bl in sm.get_matching_blocks())

    res = {}
    before = after = 0
    for nn, spun_text, orig in corpora.spun_news_examples(shared):
        r = restorer.restore(spun_text)
        b, a = diff(spun_text, orig), diff(r.text, orig)
        before += b
        after += a
        res[nn] = {"tokens_wrong_spun": b, "tokens_wrong_restored": a, "edits": len(r.edits),
                   "spin_score": round(r.spin_score, 4)}
    res["total"] = {"tokens_wrong_spun": before, "tokens_wrong_restored": after,
                    "error_reduction": (before - after) / before if before else float("nan")}
    return res


# --------------------------------------------------------------------------- plots


def plot(results: dict, tallies: dict[str, Tally], out_dir: Path) -> list[str]:
    """Calibration (reliability) and precision/recall-vs-threshold plots as PNG files; returns paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    for name, t in tallies.items():
        a = np.array(t.proposals, dtype=float).reshape(-1, 2)
        if not len(a):
            continue
        idx = np.minimum((a[:, 0] * 10).astype(int), 9)
        xs, ys = [], []
        for b in range(10):
            m = idx == b
            if m.sum() >= 5:
                xs.append(a[m, 0].mean())
                ys.append(a[m, 1].mean())
        ax.plot(xs, ys, "o-", label=name)
    ax.set_xlabel("confidence")
    ax.set_ylabel("fraction correct")
    ax.set_title("Edit calibration")
    ax.legend()
    p = out_dir / "restoration_calibration.png"
    fig.savefig(p, dpi=100, bbox_inches="tight")
    plt.close(fig)
    paths.append(str(p))

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in results["curves"].items():
        th = [c["threshold"] for c in curve]
        ax.plot(th, [c["precision"] for c in curve], "-", label=f"precision ({name})")
        ax.plot(th, [c["recall"] for c in curve], "--", label=f"recall ({name})")
    ax.set_xlabel("confidence threshold")
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision and exact-restoration recall vs threshold")
    ax.legend(fontsize=8)
    p = out_dir / "restoration_threshold.png"
    fig.savefig(p, dpi=100, bbox_inches="tight")
    plt.close(fig)
    paths.append(str(p))
    return paths


# --------------------------------------------------------------------------- entry points


def _row_inputs(key: str, docs: list[Doc], shared: Path | None, base: Restorer, tmp: Path, words: set[str]):
    """(spun documents, restorer, spinner description) of one row; ``FileNotFoundError`` when its
    dictionary source is not installed."""
    if key == "thesaurus":
        return spin_docs(docs, thesaurus_spinner(words), seed=11), row_restorer(key, base), "mythes-en-us thesaurus groups"
    if key == "wordnet":
        return spin_docs(docs, wordnet_spinner(words), seed=12), row_restorer(key, base), "WordNet 3.0 synset lemmas"
    if key == "pps":
        return pps_docs(shared, "report"), row_restorer(key, base), "PPS tortured phrases (real spinner output)"
    if key in ("known", "known_withheld_30pct"):
        return spin_docs(docs, table_spinner(base.table), seed=1), row_restorer(key, base), "the restorer's own table"
    if key == "dictionary_loaded":
        from workers.evaluation.groups import mythes_groups, write_groups

        path = write_groups(mythes_groups(base.model, LOADED_GROUPS), tmp / "thesaurus_groups.txt")
        spun = spin_docs(docs, group_file_spinner(path), seed=13)
        return spun, row_restorer(key, base, [path]), f"{LOADED_GROUPS:,} thesaurus groups, group file loaded"
    raise ValueError(f"unknown row {key!r}")


def run(quick: bool, out_dir: Path, shared: Path | None, restorer: Restorer | None = None,
        rows: Sequence[str] | None = None) -> dict:
    """Run the benchmark rows (``rows``: keys of ``ROWS``, default all) on the reported split of
    ``shared`` (``None``: the bundled set); prints a table, writes ``restoration.json`` and two PNG plots
    into ``out_dir`` and returns the results dict. A row whose dictionary source is not installed is
    skipped and listed under ``skipped``. Raises ``FileNotFoundError`` when a corpus is missing."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    base = restorer if restorer is not None else Restorer()
    if shared is None:
        docs = [Doc(i, "senate", t) for i, t in corpora.bundled_senate()]
    else:
        docs = load_docs(Path(shared), quick, "report")
    words = words_of(d.clean for d in docs)
    keys = [r.key for r in ROWS if rows is None or r.key in rows]
    tallies: dict[str, Tally] = {}
    results: dict = {"data": "bundled" if shared is None else str(shared), "rows": {}, "skipped": {}}
    clean_cache: dict[str, dict] = {}
    spun_known = None
    with tempfile.TemporaryDirectory() as tmp:
        for key in keys:
            row = next(r for r in ROWS if r.key == key)
            cpu0 = time.process_time()
            try:
                if key == "known_withheld_30pct" and spun_known is not None:
                    spun, rr, what = spun_known[0], row_restorer(key, base), spun_known[1]
                else:
                    spun, rr, what = _row_inputs(key, docs, shared, base, Path(tmp), words)
            except FileNotFoundError as exc:
                results["skipped"][key] = f"dictionary source not installed: {exc.filename or exc}"
                continue
            if key == "known":
                spun_known = (spun, what)
            cache = clean_cache.setdefault(json.dumps(rr.version, sort_keys=True, default=str), {})
            tallies[key] = evaluate(rr, spun, cache)
            results["rows"][key] = {"label": row.label, "unseen": row.unseen, "spinner": what,
                                    "documents": len(spun), **summarise(tallies[key]),
                                    "cpu_seconds": time.process_time() - cpu0}
    results["curves"] = {k: threshold_curve(v) for k, v in tallies.items()}
    results["documents"] = {s: sum(d.source == s for d in docs) for s in ("senate", "ose", "gum")}
    results["splits"] = {
        "reported": "odd positions of the held-out Senate releases, odd OneStopEnglish texts, GUM Wikinews, PPS report half",
        "tuning": "even positions of the held-out Senate releases, even OneStopEnglish texts, PPS tuning half",
    }
    results["table"] = {"version": base.table.version, "entries": len(base.table), "spun_forms": len(base.table.reverse)}
    results["restorer"] = base.version
    if shared is not None and (Path(shared) / corpora.SPUN_NEWS).is_dir():
        results["examples"] = eval_examples(base, Path(shared))
    results["seconds"] = time.perf_counter() - t_start
    results["plots"] = plot(results, tallies, out_dir)
    (out_dir / "restoration.json").write_text(json.dumps(_no_nan(results), indent=2, default=float) + "\n", encoding="utf-8")
    print_results(results)
    print(f"wrote {out_dir / 'restoration.json'}", *results["plots"], sep="\n  ")
    return results


def _no_nan(value):
    """``value`` with NaN floats as None: a row that made no edit has no precision, and JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def _cell(row: dict, key: str) -> str:
    """One printed value of a row; a NaN (no edit made, so no precision) reads "n/a", not "nan"."""
    value = row[key]
    if isinstance(value, float) and math.isnan(value):
        return f"n/a ({row['edits']} edits)" if key == "edit_precision" and "edits" in row else "n/a"
    if key == "words_per_s":
        return f"{value:,.0f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_results(results: dict) -> None:
    """Print one line per row (unseen spinners first) as a rich table."""
    from rich.console import Console
    from rich.table import Table

    tab = Table(title=f"Restoration benchmark ({'bundled set' if results['data'] == 'bundled' else 'reported split'})")
    cols = [("edit_precision", "edit precision"), ("word_recall", "word recall"), ("exact_restoration", "exact"),
            ("knowledge", "table knows"), ("false_edits_per_1k_words", "false edits/1k clean"),
            ("words_per_s", "words/s"),
            ("spun_words", "spun words"), ("documents", "docs")]
    tab.add_column("spinner (row)", no_wrap=True)
    for _, name in cols:
        tab.add_column(name, justify="right")
    for key, r in results["rows"].items():
        tab.add_row(r["label"], *[_cell(r, k) for k, _ in cols])
    import sys

    c = Console() if sys.stdout.isatty() else Console(width=160)  # a file or pipe gets whole lines
    c.print(tab)
    for key, why in results["skipped"].items():
        c.print(f"skipped {key}: {why}")
    ex = results.get("examples", {}).get("total")
    if ex:
        c.print(f"hand-spun examples: tokens wrong {ex['tokens_wrong_spun']} -> {ex['tokens_wrong_restored']}")


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m workers.evaluation.restoration [--quick] [--fit] --shared DIR --out DIR``."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--fit", action="store_true", help="refit data/calibration.json on the tuning split first")
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--out", type=Path, default=Path("eval-out"))
    ap.add_argument("--rows", default=None, help="comma-separated row keys (default: all)")
    a = ap.parse_args(argv)
    if a.fit:
        from workers.evaluation.calibrate import fit  # noqa: PLC0415 (imports this module)

        print("calibration:", fit(a.shared, quick=a.quick))
    run(a.quick, a.out, a.shared if a.shared.is_dir() else None, rows=a.rows.split(",") if a.rows else None)


if __name__ == "__main__":
    main()
