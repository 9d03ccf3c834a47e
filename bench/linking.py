"""Linking benchmark: link recall and false links, learned-pair precision, restoration of later
unlinked copies before and after learning, memory of the link index, and the worker's throughput
with linking on against off (same run, same broker).

Data (optional, read from ``--shared``, never shipped): US Senate press releases (public domain) as
originals; the "unknown spinner" is the LibreOffice thesaurus group spinner of
``workers.evaluation.spinners`` (Debian ``mythes-en-us``), which the restorer's table is not built from.
Press releases of the same senators and years are the "different articles on the same topic": they
share names, places, boilerplate and subjects.

1. ``linking``: ``index`` originals are fingerprinted and indexed; ``copies`` of them are spun with a
   rate of 0.3, 0.5, 0.7 or 0.9 (share of the words the thesaurus holds that are replaced) and looked up; ``others``
   (press releases not indexed) are looked up too. Link recall: copies linked to their own original;
   false links: lookups that link to any article that is not their source, over all lookups of others.
2. ``learning``: a stream of source/copy pairs (other press releases) is aligned and its substitutions
   counted (``PairCounter``, k = ``UNSPUN_LEARN_MIN_ARTICLES``); after 0, 25, 50, 100, 200, 300 pairs the
   learned pairs are scored against the spinner's dictionary (precision) and given to the restorer as its
   ``learned`` family (the shipped families without WordNet's, as ``unspun eval`` scores this spinner),
   which then restores held-out copies whose source is never seen (span recall and edit precision as
   ``unspun eval``); also the learned family alone. Plot: ``bench/linking_learning.png``.
3. ``memory``: a ``LinkIndex`` filled with 100,000 articles' band keys; bytes per article and the
   extrapolation to 1,000,000.
   ``query``: the cost of ``LinkIndex.query`` (limit 2, the worker's similarity floor) in a 100,000-article
   index where 0, 10, 100, 1,000 or 10,000 articles share 1-32 band keys with the query (their sketches
   agree with its sketch at a random share of positions, some wholly): microseconds per query (best of
   three rounds) and per candidate (what the candidates add to the query that has none), against the
   query as it was before (``_query_before``: one sketch comparison per candidate, band keys searched as
   Python ints; same index, same run; ``same_hits``: both gave the same candidates). ``linking`` also
   reports the query cost of its lookups and their candidates (articles sharing a band key) per lookup.
4. ``throughput`` (skipped with ``--no-stream``): the real worker on the embedded broker, burst of
   distinct articles from ``bench/articles.py``, ``UNSPUN_LINKING`` off then on.

    python bench/linking.py [--quick] [--shared ../shared] [--no-stream] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
import orjson  # noqa: E402

from workers.evaluation import corpora  # noqa: E402
from workers.evaluation.restoration import Doc, evaluate, summarise  # noqa: E402
from workers.evaluation.spinners import Spinner, thesaurus_spinner, words_of  # noqa: E402
from workers.linking.align import align  # noqa: E402
from workers.linking.fingerprint import fingerprint, immutable_tokens, sketch_similarity  # noqa: E402
from workers.linking.index import _SHARD_BITS, Candidate, LinkIndex, Ref  # noqa: E402
from workers.linking.learn import LEARNED_FAMILY, PairCounter, observations  # noqa: E402
from workers.restoration.tokens import norms  # noqa: E402
from workers.settings import Settings  # noqa: E402
from workers.stream.linking import _ESTIMATE_MARGIN  # noqa: E402

# Spin rates of the copies: the share of the words the thesaurus holds that the spinner replaces.
LINK_RATES = (0.3, 0.5, 0.7, 0.9)
CHECKPOINTS = (0, 25, 50, 100, 200, 300)
QUERY_GROUPS = (0, 10, 100, 1_000, 10_000)  # candidates of each timed query; the first has none
PLOT = ROOT / "bench" / "linking_learning.png"


def _replaced_share(clean: str, spans) -> float:
    """Share of the clean text's content words (words that are not function words) the spinner replaced."""
    content = sum(w.isalpha() for w in norms(clean)) - len(immutable_tokens(clean))
    return sum(len(s.original.split()) for s in spans) / max(1, content)


def _same_article(a: str, b: str) -> bool:
    """True when two corpus texts are one release issued twice: at least 60 % of the word 6-grams
    (letters only, so reformatting does not count) of the shorter one are in the other. The corpus
    holds joint releases published by each senator's office, and linking them is right."""
    def grams(t: str) -> set:
        w = [x for x in norms(t) if x.isalpha()]
        return {tuple(w[i : i + 6]) for i in range(len(w) - 5)}

    x, y = grams(a), grams(b)
    return bool(x and y) and len(x & y) / min(len(x), len(y)) >= 0.6


def linking_quality(docs: list[tuple[str, str]], spinner: Spinner, n_index: int, n_copies: int, s: Settings) -> dict:
    """Link recall of spun copies and false links of other articles (see the module docstring)."""
    rng = random.Random(1)
    index = LinkIndex(s.linking_window_s, s.linking_max_articles, s.linking_num_perm)
    indexed, others = docs[:n_index], docs[n_index:]
    fps = []
    t0 = time.perf_counter()
    for n, (_, text) in enumerate(indexed):
        fp = fingerprint(text, num_perm=s.linking_num_perm, threshold=s.linking_lsh_threshold)
        fps.append(fp)
        index.add(fp.bands, Ref(0, n), 0.0, fp.sketch)
    fp_ms = (time.perf_counter() - t0) * 1000 / len(indexed)

    fetched = [0]  # candidate records the worker would fetch
    query_s = {"query": 0.0, "before": 0.0, "candidates": 0, "differ": 0}
    floor = max(0.0, s.linking_similarity - _ESTIMATE_MARGIN)

    def link(text: str) -> tuple[int | None, float]:
        fp = fingerprint(text, num_perm=s.linking_num_perm, threshold=s.linking_lsh_threshold)
        best, sim = None, 0.0
        t0 = time.perf_counter()
        hits = index.query(fp.bands, fp.sketch, min_similarity=floor, limit=2)
        t1 = time.perf_counter()
        before = _query_before(index, fp.bands, fp.sketch, min_similarity=floor, limit=2)
        query_s["before"] += time.perf_counter() - t1
        query_s["query"] += t1 - t0
        query_s["differ"] += hits != before
        query_s["candidates"] += len(index.query(fp.bands, limit=len(index)))
        fetched[0] += len(hits)
        for c in hits:
            j = fp.jaccard(fps[c.ref.offset])
            if j > sim:
                best, sim = c.ref.offset, j
        return (best, sim) if sim >= s.linking_similarity else (None, sim)

    by_bucket: dict[str, list[int]] = {}
    by_rate: dict[str, list[int]] = {}
    copy_sims, wrong = [], 0
    for n in range(n_copies):
        rate = LINK_RATES[n % len(LINK_RATES)]
        spun, spans = Spinner(spinner.name, spinner.table, (rate, rate)).spin(indexed[n][1], rng)
        got, sim = link(spun)
        share = _replaced_share(indexed[n][1], spans)
        bucket = f"{min(9, int(share * 10)) * 10}-{min(9, int(share * 10)) * 10 + 10}%"
        right = got == n or (got is not None and _same_article(indexed[got][1], indexed[n][1]))
        by_bucket.setdefault(bucket, []).append(int(right))
        by_rate.setdefault(f"{rate:.0%}", []).append(int(right))
        copy_sims.append(sim)
        wrong += int(got is not None and not right)
    false_links, reissues, other_sims, examples = 0, 0, [], []
    for name, text in others:
        got, sim = link(text)
        if got is not None and _same_article(indexed[got][1], text):
            reissues += 1
            continue
        if got is not None:
            false_links += 1
            examples.append(f"{name} -> {indexed[got][0]} ({sim:.2f})")
        other_sims.append(sim)
    found = sum(sum(v) for v in by_bucket.values())
    return {
        "indexed": len(indexed), "copies": n_copies, "others": len(others),
        "link_recall": found / n_copies,
        "recall_by_spin_rate": {k: round(sum(v) / len(v), 3) for k, v in sorted(by_rate.items())},
        "recall_by_share_of_content_words_replaced": {k: round(sum(v) / len(v), 3) for k, v in sorted(by_bucket.items())},
        "copies_per_bucket": {k: len(v) for k, v in sorted(by_bucket.items())},
        "copies_linked_to_a_wrong_article": wrong,
        "false_links": false_links, "false_link_rate": false_links / max(1, len(others) - reissues),
        "others_that_are_reissues_of_an_indexed_release": reissues,
        "false_link_examples": examples,
        "pairs_compared": len(others) * len(indexed),
        "copy_similarity_min": round(min(copy_sims), 3),
        "other_similarity_max": round(max(other_sims), 3),
        "fingerprint_ms": round(fp_ms, 2),
        "records_fetched_per_lookup": round(fetched[0] / (n_copies + len(others)), 3),
        "candidates_per_lookup": round(query_s["candidates"] / (n_copies + len(others)), 2),
        "query_us_per_lookup": round(query_s["query"] * 1e6 / (n_copies + len(others)), 1),
        "query_before_us_per_lookup": round(query_s["before"] * 1e6 / (n_copies + len(others)), 1),
        "lookups_whose_hits_differ_from_before": query_s["differ"],
    }


def _is_spinner_pair(spinner: Spinner, spun: str, original: str) -> bool:
    return any(" ".join(norms(x.text)) == spun for x in spinner.table.forward.get(tuple(original.split()), ()))


def learning(pairs: list[tuple[str, str]], held_out: list[tuple[str, str]], spinner: Spinner, k: int) -> dict:
    """Learned-pair precision and held-out restoration as the stream of linked pairs grows."""
    from workers.evaluation.restoration import row_restorer
    from workers.restoration import Restorer, default_restorer
    from workers.restoration.families import learned_family

    # The shipped families without the WordNet one, as `unspun eval` scores the thesaurus row: the
    # LibreOffice thesaurus derives from WordNet, so that family would know this spinner.
    base = row_restorer("thesaurus", default_restorer())
    base.threshold = Settings().restore_threshold  # the worker's operating point

    rng = random.Random(2)
    docs = []
    for name, text in held_out:
        spun, spans = spinner.spin(text, rng)
        docs.append(Doc(name, "senate", text, spun, spans))
    counter = PairCounter(k)
    rows = []
    seen = 0
    for stop in CHECKPOINTS:
        for name, text in pairs[seen:stop]:
            spun, _ = spinner.spin(text, rng)
            for o in observations(align(spun, text).substitutions, name):
                counter.add(o.spun, o.original, o.article)
        seen = stop
        entries = counter.entries()
        learned = list(counter.learned)
        correct = sum(_is_spinner_pair(spinner, sp, orig) for sp, orig in learned)
        if entries:
            base.update_family(LEARNED_FAMILY, entries)  # what the worker does when pairs are learned
        m = summarise(evaluate(base, docs))
        row = {
            "pairs": stop, "learned_pairs": len(learned), "learned_precision": correct / len(learned) if learned else None,
            "span_recall": round(m["span_recall"], 4), "edit_precision": round(m["edit_precision"], 4),
            "false_edits_per_1k_words_press": round(m["false_edits_per_1k_words_press"], 3),
        }
        if entries:  # the learned family alone, as a restorer that attributes the article to it would use it
            alone = summarise(evaluate(Restorer(families=[learned_family(entries)], model=base.model, calibration=base.cal), docs))
            row.update(learned_only_span_recall=round(alone["span_recall"], 4), learned_only_edit_precision=round(alone["edit_precision"], 4),
                       learned_only_false_edits_per_1k_words_press=round(alone["false_edits_per_1k_words_press"], 3))
        rows.append(row)
        print(f"  after {stop} pairs: {rows[-1]}", file=sys.stderr)
    return {"k": k, "held_out_copies": len(docs), "rows": rows}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["pairs"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(x, [r["span_recall"] for r in rows], "o-", color="C0", label="span recall: shipped families + learned")
    ax.plot(x, [r["edit_precision"] for r in rows], "s-", color="C0", alpha=0.5, label="edit precision: shipped families + learned")
    ax.plot(x, [r.get("learned_only_span_recall", r["span_recall"]) for r in rows], "o-", color="C1", label="span recall: learned family alone")
    ax.plot(x, [r.get("learned_only_edit_precision", r["edit_precision"]) for r in rows], "s-", color="C1", alpha=0.5, label="edit precision: learned family alone")
    ax.plot(x, [r["learned_precision"] if r["learned_precision"] is not None else float("nan") for r in rows], "^--", color="C2", label="learned-pair precision")
    ax.set_xlabel("source/copy pairs linked so far")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center right")
    ax.set_title("Restoration of copies whose source is never seen, as learning grows", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def memory(n: int, s: Settings) -> dict:
    """Index memory for ``n`` articles (random band keys, as many as a fingerprint has), and the
    process's resident memory growth (Python objects and merge buffers included)."""
    from workers.linking.fingerprint import lsh_params

    bands, _ = lsh_params(s.linking_lsh_threshold, s.linking_num_perm)
    rng = random.Random(3)
    rss0 = _rss_mib()
    index = LinkIndex(s.linking_window_s, max(n, s.linking_max_articles), s.linking_num_perm)
    t0 = time.perf_counter()
    for i in range(n):
        index.add([rng.getrandbits(64) for _ in range(bands)], Ref(i % 4, i), time.time(), rng.randbytes(s.linking_num_perm))
    index._merge()  # noqa: SLF001 - count everything in the compact arrays
    seconds = time.perf_counter() - t0
    per_article = index.nbytes / n
    return {
        "articles": n, "bands": bands, "index_mib": round(index.nbytes / 2**20, 1), "bytes_per_article": round(per_article, 1),
        "rss_growth_mib": round(_rss_mib() - rss0, 1), "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rebuild_articles_per_s": round(n / seconds), "extrapolated_1m_mib": round(per_article * 1_000_000 / 2**20, 1),
    }


def _query_before(index: LinkIndex, bands, sketch: bytes = b"", *, min_similarity: float = 0.0, limit: int = 3) -> list[Candidate]:
    """``LinkIndex.query`` as it was before its sketches were compared in one numpy step: one
    ``sketch_similarity`` call per candidate, and band keys searched as Python ints (numpy compares a
    uint64 shard with an int below 2**63 in float64, after copying it). The baseline of ``query_cost``."""
    counts: Counter[int] = Counter()
    if bands:
        for key in bands:
            sh = key >> (64 - _SHARD_BITS)
            keys = index._keys[sh]  # noqa: SLF001
            a, b = int(np.searchsorted(keys, key, "left")), int(np.searchsorted(keys, key, "right"))
            if b > a:
                counts.update(set(index._slots[sh][a:b].tolist()))  # noqa: SLF001
        for key in bands:
            counts.update(set(index._recent.get(key, ())))  # noqa: SLF001
    n = index._sketch_len  # noqa: SLF001
    hits = []
    for slot, shared in counts.items():
        i = slot - index._base  # noqa: SLF001
        if i < 0:
            continue
        sim = sketch_similarity(sketch[:n], bytes(index._sketches[i * n : (i + 1) * n])) if n and sketch else 0.0  # noqa: SLF001
        if sim >= min_similarity:
            hits.append((sim, shared, slot))
    hits.sort(reverse=True)
    base = index._base  # noqa: SLF001
    return [Candidate(Ref(index._partitions[s - base], index._offsets[s - base]), c, sim) for sim, c, s in hits[:limit]]  # noqa: SLF001


def query_cost(n: int, s: Settings) -> dict:
    """Cost of ``LinkIndex.query`` against ``_query_before`` in an index of ``n`` articles where each
    of ``QUERY_GROUPS`` is the number of articles sharing band keys with one query (see the module docstring)."""
    groups = QUERY_GROUPS
    from workers.linking.fingerprint import lsh_params

    bands, _ = lsh_params(s.linking_lsh_threshold, s.linking_num_perm)
    perm = s.linking_num_perm
    rng = random.Random(4)
    queries = [([rng.getrandbits(64) for _ in range(bands)], rng.randbytes(perm)) for _ in groups]
    members = iter(rng.sample(range(n), sum(groups)))
    group_of = {next(members): g for g, m in enumerate(groups) for _ in range(m)}
    index = LinkIndex(s.linking_window_s, n, perm)
    for i in range(n):
        keys, sketch = [rng.getrandbits(64) for _ in range(bands)], rng.randbytes(perm)
        if (g := group_of.get(i)) is not None:
            q_keys, q_sketch = queries[g]
            shared = rng.randint(1, bands)
            keys[:shared] = rng.sample(q_keys, shared)
            agree = perm if rng.random() < 0.1 else rng.randint(0, perm)
            sketch = bytes(q_sketch[j] if j < agree else sketch[j] for j in range(perm))
        index.add(keys, Ref(i % 4, i), 0.0, sketch)
    index._merge()  # noqa: SLF001 - the worker's index is mostly merged
    floor = max(0.0, s.linking_similarity - _ESTIMATE_MARGIN)
    rows = []
    for m, (keys, sketch) in zip(groups, queries):
        row: dict = {"candidates": m}
        repeat = max(3, 20_000 // max(m, 10))
        fns = {"query": index.query, "before": partial(_query_before, index)}
        best = dict.fromkeys(fns, float("inf"))
        for _ in range(3):  # rounds alternate, so that drifting load on the machine falls on both
            for name, fn in fns.items():
                best[name] = min(best[name], _seconds(lambda: fn(keys, sketch, min_similarity=floor, limit=2), repeat))
        for name in fns:
            row[f"{name}_us"] = round(best[name] * 1e6, 1)
            # What the candidates add to the query that has none (the band key look-ups).
            row[f"{name}_us_per_candidate"] = round((row[f"{name}_us"] - rows[0][f"{name}_us"]) / m, 3) if m else None
        row["ratio_before_over_query"] = round(row["before_us"] / row["query_us"], 2)
        row["same_hits"] = index.query(keys, sketch, min_similarity=floor, limit=2) == _query_before(index, keys, sketch, min_similarity=floor, limit=2)
        rows.append(row)
        print(f"  query: {row}", file=sys.stderr)
    return {"articles": n, "bands": bands, "min_similarity": floor, "rows": rows}


def _seconds(fn, repeat: int) -> float:
    """Mean wall seconds of ``repeat`` calls of ``fn``."""
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def throughput(quick: bool) -> dict:
    """The worker's burst throughput with linking off and on, alternated (off, on, off, on) in one run on
    one broker so that drifting load on the machine falls on both; the ratio is of the summed rates."""
    import articles as article_set
    import stream

    from workers.stream.broker import EmbeddedBroker

    plan = stream.Plan(burst=64, warmup=32, load_seconds=5.0) if quick else stream.Plan(burst=192, warmup=48, load_seconds=5.0)
    arts = article_set.generate(plan.warmup + plan.burst)  # distinct articles: nothing is a copy
    log_dir = Path(tempfile.mkdtemp(prefix="unspun-bench-linking-"))
    out: dict = {"off": [], "on": []}
    with EmbeddedBroker(log_path=log_dir / "broker.log") as broker:
        for round_ in range(2):
            for name in ("off", "on"):
                tag = f"link-{name}-{round_}"
                env = {"UNSPUN_LINKING": "true", "UNSPUN_FINGERPRINTS_TOPIC": f"{tag}.fp", "UNSPUN_LINKS_TOPIC": f"{tag}.links",
                       "UNSPUN_LEARNED_TOPIC": f"{tag}.learned"} if name == "on" else {}
                r = await stream.worker_session(tag, 1, broker, arts, plan, log_dir, with_loads=False, extra_env=env)
                burst = r["phases"]["max"]
                out[name].append({"articles_per_s": burst["articles_per_s"], "cpu_ms_per_article": burst["cpu_ms_per_article"],
                                  "memory": r.get("memory"), "errors": r.get("errors")})
                print(f"  linking {name}: {burst['articles_per_s']:.2f} articles/s, {burst['cpu_ms_per_article']} CPU ms an article", file=sys.stderr)
    rate = {k: sum(x["articles_per_s"] for x in out[k]) for k in ("off", "on")}
    cpu = {k: sum(x["cpu_ms_per_article"] for x in out[k]) for k in ("off", "on")}
    out["ratio_on_over_off"] = round(rate["on"] / rate["off"], 3)
    # CPU time per article (worker and its children) moves less with other load on the machine.
    out["cpu_ratio_on_over_off"] = round(cpu["off"] / cpu["on"], 3)
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    p.add_argument("--no-stream", action="store_true", help="skip the worker throughput runs")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    s = Settings()
    n_index, n_copies, n_others = (500, 200, 1000) if args.quick else (1500, 500, 1200)  # the corpus holds 3,243
    n_pairs, n_held = CHECKPOINTS[-1], (40 if args.quick else 100)
    docs = list(corpora.senate_held_out(args.shared, limit=n_index + n_others + n_pairs + n_held, min_words=150))
    spinner = thesaurus_spinner(words_of(t for _, t in docs))
    out: dict = {"quick": args.quick, "spinner": spinner.name}
    out["linking"] = linking_quality(docs[: n_index + n_others], spinner, n_index, n_copies, s)
    print(f"  linking: {out['linking']}", file=sys.stderr)
    rest = docs[n_index + n_others :]
    out["learning"] = learning(rest[:n_pairs], rest[n_pairs:], spinner, s.learn_min_articles)
    plot(out["learning"]["rows"], PLOT)
    out["memory"] = memory(100_000, s) if args.quick else [memory(100_000, s), memory(1_000_000, s)]
    print(f"  memory: {out['memory']}", file=sys.stderr)
    out["query"] = query_cost(100_000, s)
    if not args.no_stream:
        out["throughput"] = asyncio.run(throughput(args.quick))
    text = orjson.dumps(out, option=orjson.OPT_INDENT_2).decode()
    if args.json:
        args.json.write_text(text)
    print(text)
    return out


if __name__ == "__main__":
    main()
