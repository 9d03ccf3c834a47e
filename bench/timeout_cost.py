"""Cost of the per-article time budget: the Enricher in the worker process (the path before the
budget existed) against :class:`workers.stream.isolation.IsolatedEnricher` (models in a child
process, watched per article), on the benchmark articles in batches of the worker's size.

Prints articles per second for both, the ratio (isolated / in-process; 1.0 = no cost), the time
to start a child (model load), and how long a timed-out article holds up its batch.

    python bench/timeout_cost.py [--n 256] [--words 600] [--batch 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _rate(enricher, articles: list[dict], batch: int, rounds: int) -> float:
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for start in range(0, len(articles), batch):
            results = enricher.enrich_many(articles[start : start + batch])
            assert all(isinstance(r, dict) for r in results), results
        best = max(best, len(articles) / (time.perf_counter() - t0))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--words", type=int, default=600)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    from bench.articles import generate
    from workers.pipeline import Enricher
    from workers.settings import Settings
    from workers.stream.isolation import SLOW_MARKER_ENV, IsolatedEnricher

    articles = [{"id": a["id"], "title": a.get("title"), "text": a["text"]} for a in generate(args.n, args.words)]
    settings = Settings()
    local = Enricher(settings)
    _rate(local, articles[: args.batch], args.batch, 1)  # warm up
    t0 = time.perf_counter()
    isolated = IsolatedEnricher(settings)
    start_s = time.perf_counter() - t0
    _rate(isolated, articles[: args.batch], args.batch, 1)
    # Alternate the two so machine noise hits both alike.
    in_process, child = [], []
    for _ in range(args.rounds):
        in_process.append(_rate(local, articles, args.batch, 1))
        child.append(_rate(isolated, articles, args.batch, 1))
    isolated.close()
    a, b = max(in_process), max(child)
    print(f"articles: {len(articles)} x ~{args.words} words, batches of {args.batch}, best of {args.rounds}")
    print(f"in-process Enricher : {a:8.1f} articles/s")
    print(f"IsolatedEnricher    : {b:8.1f} articles/s")
    print(f"ratio isolated/in-process: {b / a:.3f}")
    print(f"child start (model load): {start_s:.2f} s")

    os.environ[SLOW_MARKER_ENV] = "SLOW-ARTICLE-MARKER"
    budget = 2.0
    slow_settings = settings.model_copy(update={"article_timeout_s": budget})
    isolated = IsolatedEnricher(slow_settings)
    batch = articles[: args.batch]
    batch[len(batch) // 2] = dict(batch[len(batch) // 2], text=batch[len(batch) // 2]["text"] + " SLOW-ARTICLE-MARKER")
    t0 = time.perf_counter()
    results = isolated.enrich_many(batch)
    spent = time.perf_counter() - t0
    isolated.close()
    kinds = [r.kind for r in results if not isinstance(r, dict)]
    print(f"batch of {len(batch)} with one never-ending article, budget {budget:g} s: {spent:.2f} s, dead letters {kinds}")


if __name__ == "__main__":
    main()
