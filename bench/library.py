"""Library path benchmark (the model floor): restorer alone, NER alone, restore+NER, on one core.

Rows, all over the same article set (``bench/articles.py``), after a warm-up on a different set:

* ``restore``: ``default_restorer().restore(title + "\\n\\n" + text)`` per article, as the Enricher does;
* ``ner_bare``: bare spaCy, ``nlp.pipe(texts, batch_size)`` with the components the extractor keeps
  (``workers.entities.extractor.load_pipeline``), over the restored texts, reading ``doc.ents``;
* ``ner_extractor``: ``EntityExtractor.extract_many`` on the same texts (adds offset trimming and
  canonical names on top of bare spaCy);
* ``restore_ner``: ``Enricher.enrich_many`` in batches of ``UNSPUN_BATCH_SIZE`` (language id,
  restoration, NER, mapping entities back to the received text, event dicts).

Throughput is words (whitespace words of title + text, the same for every row) and articles per
second of wall time (and per CPU-second of this process, which other tenants of a busy machine
disturb less); each row runs ``--repeats`` times and the median is reported. The process is
pinned to one CPU and BLAS/OpenMP pools to one thread, so the numbers are per core.

``--groups N`` loads, through ``UNSPUN_EXTRA_TABLES``, a synonym-group dictionary of the ``N`` thesaurus
heads most frequent in the n-gram model (the LibreOffice thesaurus, Debian ``mythes-en-us``, as a
spinner plugin would ship it; built in a temporary folder, never shipped), so every row runs with a
large imported dictionary as well as the shipped table.

    python bench/library.py [--quick] [--n 64] [--shared] [--groups 15000] [--json FILE]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import articles as article_set  # noqa: E402

TITLE_GAP = "\n\n"


def pin_one_core() -> int | None:
    """Pin this process to one CPU (the last one it may use); returns it, or None if not supported."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
        return cpus[-1]
    except (AttributeError, OSError):
        return None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other processes compete for the core when high)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _normalised(articles: list[dict], settings) -> list[dict]:
    import orjson

    from workers.articles import decode_article

    return [decode_article(orjson.dumps(a), settings) for a in articles]


def run(articles: list[dict], warmup: list[dict], repeats: int = 3) -> dict:
    """Time the four rows on ``articles`` (after running each on ``warmup``); returns the results dict."""
    from workers.entities import EntityExtractor
    from workers.entities.extractor import load_pipeline
    from workers.pipeline import Enricher
    from workers.settings import get_settings

    settings = get_settings()
    batch = settings.batch_size
    t0 = time.perf_counter()
    enricher = Enricher(settings)
    load_s = time.perf_counter() - t0
    restorer = enricher.restorer
    extractor: EntityExtractor = enricher.extractor
    nlp = load_pipeline(settings.spacy_model, True)
    assert nlp is extractor.nlp, "the extractor should use the cached pipeline"

    docs = _normalised(articles, settings)
    warm_docs = _normalised(warmup, settings)
    words = sum(a["meta"]["words"] for a in articles)
    n = len(articles)

    def joined(a: dict) -> str:
        return f"{a['title']}{TITLE_GAP}{a['text']}" if a.get("title") else a["text"]

    def restore_all(items=docs) -> list[str]:
        return [restorer.restore(joined(a)).text for a in items]

    restored = restore_all()
    # NER sees the restored body text (without the title), as in Enricher.enrich_many.
    texts = [r.split(TITLE_GAP, 1)[1] if a.get("title") else r for r, a in zip(restored, docs)]
    warm_texts = [a["text"] for a in warm_docs]

    def ner_bare(items=texts) -> int:
        return sum(len(doc.ents) for doc in nlp.pipe(items, batch_size=batch))

    def ner_extractor(items=texts) -> int:
        return sum(len(m) for m in extractor.extract_many(items))

    def restore_ner(items=docs) -> int:
        ok = 0
        for k in range(0, len(items), batch):
            ok += sum(isinstance(r, dict) for r in enricher.enrich_many(items[k : k + batch]))
        return ok

    plan = (
        ("restore", restore_all, lambda: restore_all(warm_docs)),
        ("ner_bare", ner_bare, lambda: ner_bare(warm_texts)),
        ("ner_extractor", ner_extractor, lambda: ner_extractor(warm_texts)),
        ("restore_ner", restore_ner, lambda: restore_ner(warm_docs)),
    )
    for _, _, warm in plan:
        warm()
    # Rows take turns, so a change in background load touches every row alike.
    times: dict[str, list[float]] = {name: [] for name, _, _ in plan}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in plan}
    load_before = load_average()
    for _ in range(repeats):
        for name, fn, _ in plan:
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    rows = {}
    for name, runs in times.items():
        median = statistics.median(runs)
        cpu_median = statistics.median(cpu[name])
        rows[name] = {
            "seconds": round(median, 4),
            "runs_s": [round(t, 4) for t in runs],
            "words_per_s": round(words / median, 1),
            "articles_per_s": round(n / median, 2),
            "ms_per_article": round(1000 * median / n, 2),
            "cpu_ms_per_article": round(1000 * cpu_median / n, 2),
            "articles_per_cpu_s": round(n / cpu_median, 2),
        }
    edits = sum(len(restorer.restore(joined(a)).edits) for a in docs)
    ents = ner_bare()
    ok = restore_ner()
    return {
        "rows": rows,
        "ratios": {
            "restore_ner_over_ner_bare": round(rows["restore_ner"]["words_per_s"] / rows["ner_bare"]["words_per_s"], 3),
            "restore_ner_over_ner_bare_cpu": round(
                rows["ner_bare"]["cpu_ms_per_article"] / rows["restore_ner"]["cpu_ms_per_article"], 3),
            "ner_extractor_over_ner_bare": round(rows["ner_extractor"]["words_per_s"] / rows["ner_bare"]["words_per_s"], 3),
        },
        "articles": article_set.describe(articles),
        "load_average": {"before": load_before, "after": load_average()},
        "restorer_edits": edits,
        "entities": ents,
        "enriched_ok": ok,
        "batch_size": batch,
        "repeats": repeats,
        "model_load_s": round(load_s, 2),
        "spacy_pipeline": list(nlp.pipe_names),
        "versions": enricher.versions,
    }


def use_thesaurus_dictionary(n: int) -> Path:
    """Write a synonym-group file (one ``|``-separated group per line, head first) of ``n`` groups
    (``workers.evaluation.groups.mythes_groups``) to a temporary folder and point ``UNSPUN_EXTRA_TABLES``
    (and, unless set, ``UNSPUN_CACHE_DIR``) at it; returns its path (removed at exit). Call before the
    settings are read.
    Raises ``FileNotFoundError`` without the thesaurus."""
    import atexit
    import shutil
    import tempfile

    from workers.evaluation.groups import mythes_groups, write_groups
    from workers.restoration.ngram import default_model

    folder = Path(tempfile.mkdtemp(prefix="unspun-groups-"))
    atexit.register(shutil.rmtree, folder, True)
    path = write_groups(mythes_groups(default_model(), n), folder / f"thesaurus-{n}-groups.txt")
    os.environ["UNSPUN_EXTRA_TABLES"] = str(path)
    os.environ.setdefault("UNSPUN_CACHE_DIR", str(folder / "cache"))
    return path


def main(argv: list[str] | None = None) -> dict:
    import orjson

    p = argparse.ArgumentParser(description="Library path benchmark (restore, NER, restore+NER) on one core.")
    p.add_argument("--quick", action="store_true", help="fewer articles and one repeat")
    p.add_argument("--n", type=int, help="articles (default 64, quick 24)")
    p.add_argument("--repeats", type=int, help="timed runs per row, taken in turns (default 5, quick 2)")
    p.add_argument("--shared", action="store_true", help="article text from ../shared/corpora")
    p.add_argument("--groups", type=int, default=0, help="also load a thesaurus dictionary of this many groups")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    n = args.n or (24 if args.quick else 64)
    repeats = args.repeats or (2 if args.quick else 5)
    cpu = pin_one_core()
    if args.groups:
        use_thesaurus_dictionary(args.groups)
    arts = article_set.generate(n, shared=args.shared)
    warm = article_set.generate(8, seed=99, shared=args.shared)
    result = run(arts, warm, repeats)
    result["pinned_cpu"] = cpu
    result["quick"] = args.quick
    result["extra_groups"] = args.groups
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    else:
        from report import library_table

        library_table(result).print()
    return result


if __name__ == "__main__":
    main()
