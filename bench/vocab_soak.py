"""Soak of spaCy's vocabulary: short articles full of names and numbers never seen before,
streamed through the enrichment child the worker uses (:class:`workers.stream.isolation.
IsolatedEnricher`), once without recycling the child and once with ``UNSPUN_NER_RECYCLE_ARTICLES``.

spaCy adds every new word to its vocabulary and string store and never removes one, so a child
that lives for ever grows for ever. Prints, every ``--every`` articles, the vocabulary size,
the string store size and the child's resident memory for both runs, then their peaks and
the ratios (recycled / never recycled) measured in the same run.

    python bench/vocab_soak.py [--n 200000] [--recycle 20000] [--every 10000] [--batch 32]
    python bench/vocab_soak.py --quick     # 12,000 articles, recycling every 3,000 (a few minutes)
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_SYLLABLES = "ka lo mi ren dus tor vel qua zan bri sel mon ath ix pe gor lun dra fen oki sab tem wy".split()
_TEMPLATES = [
    "{a} {b}, chief of the {c} Authority, said on Tuesday that {n} jobs would move to {d} by {y}.",
    "Officers in {d} arrested {a} {b} after {n} residents reported missing shipments worth ${m}.",
    "The {c} Group paid {a} {b} {m} dollars, the filing numbered {n}-{y} shows.",
]


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def articles(n: int, seed: int = 7):
    """``n`` article dicts, each with about six tokens (names, numbers) no earlier one had."""
    rng = random.Random(seed)
    for i in range(n):
        text = " ".join(
            t.format(
                a=_name(rng), b=_name(rng), c=_name(rng), d=_name(rng),
                n=rng.randint(100, 999_999), m=rng.randint(10_000, 99_999_999), y=rng.randint(1990, 2090),
            )
            for t in rng.sample(_TEMPLATES, 2)
        )
        yield {"id": f"soak-{i}", "title": None, "text": text}


def _rss_mb(pid: int | None) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, TypeError):
        pass
    return float("nan")


def run(n: int, recycle: int, every: int, batch: int) -> list[tuple[int, int, int, float, float]]:
    """Rows ``(articles, vocabulary, strings, child RSS MB, seconds)`` every ``every`` articles."""
    from workers.settings import Settings
    from workers.stream.isolation import IsolatedEnricher

    settings = Settings(ner_recycle_articles=recycle, article_timeout_s=0, batch_size=batch)
    enricher = IsolatedEnricher(settings)
    rows, pending, done, t0 = [], [], 0, time.perf_counter()
    try:
        for article in articles(n):
            pending.append(article)
            if len(pending) == batch:
                enricher.enrich_many(pending)
                done, pending = done + len(pending), []
                if done % every < batch:
                    # The child may just have been replaced: sizes are those reported after the last batch.
                    sizes = enricher.vocab_sizes
                    rows.append((done, sizes.get("vocab", 0), sizes.get("strings", 0), _rss_mb(enricher.pid), time.perf_counter() - t0))
                    print(f"  {rows[-1][0]:>8,} articles  vocabulary {rows[-1][1]:>9,}  strings {rows[-1][2]:>9,}  "
                          f"child RSS {rows[-1][3]:7.1f} MB  {rows[-1][4]:6.0f} s", flush=True)
    finally:
        enricher.close()
    print(f"  recycled {enricher.recycles} times")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--recycle", type=int, default=20_000, help="UNSPUN_NER_RECYCLE_ARTICLES of the second run")
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="12,000 articles, recycling every 3,000, rows every 1,500")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.recycle, args.every = 12_000, 3_000, 1_500
    print(f"never recycled (UNSPUN_NER_RECYCLE_ARTICLES=0), {args.n:,} articles:")
    base = run(args.n, 0, args.every, args.batch)
    print(f"recycled every {args.recycle:,} articles:")
    bounded = run(args.n, args.recycle, args.every, args.batch)
    # Peaks over the run: right after a recycle the new child is still small.
    b = [base[-1][0], *(max(row[k] for row in base) for k in (1, 2, 3)), base[-1][4]]
    r = [bounded[-1][0], *(max(row[k] for row in bounded) for k in (1, 2, 3)), bounded[-1][4]]
    print(f"\npeak over {b[0]:,} articles   never recycled  recycled   ratio")
    print(f"vocabulary entries      {b[1]:>14,}  {r[1]:>8,}   {r[1] / b[1]:.2f}")
    print(f"string store entries    {b[2]:>14,}  {r[2]:>8,}   {r[2] / b[2]:.2f}")
    print(f"child RSS (MB)          {b[3]:>14.1f}  {r[3]:>8.1f}   {r[3] / b[3]:.2f}")
    print(f"articles per second     {b[0] / b[4]:>14.1f}  {r[0] / r[4]:>8.1f}   {(r[0] / r[4]) / (b[0] / b[4]):.2f}")

if __name__ == "__main__":
    main()
