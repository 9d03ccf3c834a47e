"""Profile the library path (``Enricher.enrich_many`` on the benchmark articles) with pyinstrument.

Prints the call tree (functions over ``--min-pct`` of the time) and writes an HTML profile under
``bench/results/``. Needs ``pip install pyinstrument``. Pinned to one core like ``bench/library.py``.

    python bench/profile_library.py [--n 64] [--shared] [--min-pct 2] [--groups 15000] [--steps-only]

``--groups N`` loads a thesaurus dictionary of N synonym groups first (see ``bench/library.py``);
``--steps-only`` prints only the table of steps (the enrichment's and the restorer's), without pyinstrument.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import articles as article_set  # noqa: E402
from library import _normalised, pin_one_core, use_thesaurus_dictionary  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    from workers.pipeline import Enricher
    from workers.settings import get_settings

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--shared", action="store_true")
    p.add_argument("--min-pct", type=float, default=2.0, help="hide frames under this share of the time")
    p.add_argument("--interval", type=float, default=0.0005, help="sampling interval, seconds")
    p.add_argument("--groups", type=int, default=0, help="also load a thesaurus dictionary of this many groups")
    p.add_argument("--steps-only", action="store_true", help="only the table of steps (no pyinstrument needed)")
    args = p.parse_args(argv)
    pin_one_core()
    if args.groups:
        use_thesaurus_dictionary(args.groups)
    settings = get_settings()
    enricher = Enricher(settings)
    docs = _normalised(article_set.generate(args.n, shared=args.shared), settings)
    warm = _normalised(article_set.generate(8, seed=99, shared=args.shared), settings)
    enricher.enrich_many(warm)
    batch = settings.batch_size
    for k in range(0, len(docs), batch):  # fill the restorer's caches, as a running worker has them
        enricher.enrich_many(docs[k : k + batch])
    if args.steps_only:
        breakdown(enricher, docs, batch)
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=args.interval)
    profiler.start()
    for k in range(0, len(docs), batch):
        enricher.enrich_many(docs[k : k + batch])
    profiler.stop()
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile_library.html").write_text(profiler.output_html(), encoding="utf-8")
    from pyinstrument.renderers import ConsoleRenderer

    print(profiler.output(ConsoleRenderer(unicode=True, color=False, show_all=False, time="percent_of_total",
                                          processor_options={"filter_threshold": args.min_pct / 100})))
    print(f"HTML profile: {out / 'profile_library.html'}")
    breakdown(enricher, docs, batch)


def _spun(doc: dict) -> bool:
    # normalise_article keeps the input's own "meta" under meta["meta"]
    meta = doc.get("meta") or {}
    return bool(meta.get("spun", (meta.get("meta") or {}).get("spun")))


def breakdown(enricher, docs: list[dict], batch: int) -> None:
    """CPU time of each step of ``enrich_many`` timed on its own (the sampling profile cannot see into
    spaCy's compiled code, so its share shows up as the thread's own time)."""
    import time

    from workers.entities import locate, summarise
    from workers.language import detect_language
    from workers.restoration import OffsetMap

    restorer, extractor, nlp = enricher.restorer, enricher.extractor, enricher.extractor.nlp
    n = len(docs)
    steps: dict[str, float] = {}

    def timed(name, fn):
        c0 = time.process_time()
        value = fn()
        steps[name] = steps.get(name, 0.0) + time.process_time() - c0
        return value

    for d in docs:  # one after the other, as enrich_many identifies a batch's languages
        timed("language id", lambda: detect_language(d["text"]))
    results = []
    for d in docs:
        joined = f"{d['title']}\n\n{d['text']}" if d.get("title") else d["text"]
        results.append(timed("restore (spun and clean)", lambda: restorer.restore(joined)))
    spun = [r for r, d in zip(results, docs) if _spun(d)]
    texts = [r.text.split("\n\n", 1)[1] if d.get("title") else r.text for r, d in zip(results, docs)]
    for k in range(0, n, batch):
        chunk = texts[k : k + batch]
        timed("spaCy nlp.pipe (bare NER)", lambda: [d.ents for d in nlp.pipe(chunk, batch_size=batch)])
        mentions = timed("EntityExtractor.extract_many", lambda: extractor.extract_many(chunk))
        for m, t in zip(mentions, chunk):
            timed("locate + summarise", lambda: summarise(locate(m, OffsetMap([]), t)))
    c0 = time.process_time()
    for k in range(0, n, batch):
        enricher.enrich_many(docs[k : k + batch])
    total = time.process_time() - c0
    print(f"\nCPU ms per article, {n} articles ({len(spun)} spun), steps timed one by one:")
    for name, sec in steps.items():
        print(f"  {name:34s} {1000 * sec / n:8.1f}")
    extra = steps["EntityExtractor.extract_many"] - steps["spaCy nlp.pipe (bare NER)"]
    print(f"  {'(extractor over bare spaCy)':34s} {1000 * extra / n:8.1f}")
    print(f"  {'Enricher.enrich_many, all steps':34s} {1000 * total / n:8.1f}")
    for label, spun_only in (("spun", True), ("clean", False)):
        items = [f"{d['title']}\n\n{d['text']}" for d in docs if _spun(d) == spun_only]
        if items:
            restorer_steps(restorer, items, label)


# The restorer's steps (see workers/restoration/restorer.py), timed by wrapping their methods.
STEPS = (
    ("index", "scan", "evidence scan (compiled)"),
    ("restorer", "_options", "candidates and their priors (compiled)"),
    ("decider", "decide_arrays", "decision, both passes (compiled)"),
    ("restorer", "_consistent", "consistency across occurrences"),
)


def restorer_steps(restorer, texts: list[str], label: str) -> None:
    """CPU ms per text of each restorer step over ``texts``, the rest (tokens, attribution, edits) last."""
    import time

    owners = {"restorer": restorer, "decider": restorer._decider, "index": restorer._index}
    spent = {name: 0.0 for *_, name in STEPS}

    def wrap(fn, name):
        def timed(*a, **k):
            c0 = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.process_time() - c0
        return timed

    for owner, attr, name in STEPS:  # instance attributes shadow the methods until deleted
        setattr(owners[owner], attr, wrap(getattr(owners[owner], attr), name))
    try:
        c0 = time.process_time()
        for t in texts:
            restorer.restore(t)
        total = time.process_time() - c0
    finally:
        for owner, attr, _ in STEPS:
            delattr(owners[owner], attr)
    n = len(texts)
    print(f"  restore, {label} articles only: {1000 * total / n:.1f}")
    for name, sec in spent.items():
        print(f"    {name:36s} {1000 * sec / n:8.1f}")
    own = total - sum(sec for name, sec in spent.items() if not name.startswith("("))
    print(f"    {'the rest (tokens, evidence sums, edits)':36s} {1000 * own / n:8.1f}")


if __name__ == "__main__":
    main()
