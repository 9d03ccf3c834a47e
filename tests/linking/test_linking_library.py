"""The linking library on its own: fingerprints, the LSH index, alignment and learned pairs."""

from __future__ import annotations

import random
import re

import pytest

from workers.linking.align import align, copy_evidence, source_edits, unaligned_edits
from workers.linking.fingerprint import FUNCTION_WORDS, fingerprint, immutable_tokens, sketch_similarity
from workers.linking.index import Candidate, LinkIndex, Ref
from workers.linking.learn import PairCounter, observations, table_lines
from workers.restoration import apply_edits
from workers.restoration.table import default_table, parse_lines

THRESHOLD = 0.3  # the LSH threshold of the default settings
SIMILAR = 0.4  # the default similarity a link needs


def heavy_spin(text: str, rate: float, seed: int) -> str:
    """Every word that is not immutable (names and prepositions included) replaced with probability
    ``rate`` by an unrelated word, one in five by a phrase with a particle ("step up"): harsher than a
    dictionary, which leaves the words it has no entry for."""
    rng = random.Random(seed)
    keep = set(immutable_tokens(text))

    def swap(m: re.Match) -> str:
        w = m.group()
        if w.lower() in keep or rng.random() >= rate:
            return w
        new = "".join(rng.choice("bcdfglmnprstv") + rng.choice("aeiou") for _ in range(3))
        return new + (" " + rng.choice(["up", "out of", "in", "off"]) if rng.random() < 0.2 else "")

    return re.sub(r"[A-Za-z]+", swap, text)


def test_function_words_are_untouched_by_the_shipped_table():
    table = default_table()
    touched = {k[0] for k in list(table.reverse) + list(table.forward) if len(k) == 1}
    assert not FUNCTION_WORDS & touched


@pytest.mark.parametrize("rate", [0.3, 0.6, 0.9])
def test_heavily_spun_copies_are_found_and_other_articles_on_the_topic_are_not(originals, same_topic, rate):
    index = LinkIndex(window_s=3600, max_articles=1000, sketch_len=96)
    fps = {}
    for n, a in enumerate(originals + same_topic):
        fps[a["id"]] = fingerprint(a["title"] + "\n\n" + a["text"], threshold=THRESHOLD)
        index.add(fps[a["id"]].bands, Ref(0, n), 1000.0, fps[a["id"]].sketch)
    ids = [a["id"] for a in originals + same_topic]
    for seed, a in enumerate(originals):
        copy = fingerprint(heavy_spin(a["title"] + "\n\n" + a["text"], rate, seed), threshold=THRESHOLD)
        hits = index.query(copy.bands, copy.sketch, min_similarity=SIMILAR - 0.15)
        assert [ids[h.ref.offset] for h in hits] == [a["id"]]
        exact = copy.jaccard(fps[a["id"]])
        assert exact >= SIMILAR and abs(hits[0].similarity - exact) < 0.15
        # Other articles that share the names and numbers stay far below the link threshold.
        for other in same_topic + originals:
            if other["id"] != a["id"]:
                assert copy.jaccard(fps[other["id"]]) < 0.2


def test_index_keeps_its_window_and_its_size():
    index = LinkIndex(window_s=100, max_articles=50, merge_min=16)
    for n in range(200):
        index.add([n, 10_000 + n], Ref(n % 2, n), float(n))
    assert len(index) == 50
    assert index.query([199]) and index.query([199])[0].ref == Ref(1, 199)
    assert index.query([100]) == []  # evicted by size, also from the merged arrays
    index.evict(290.0)  # window: articles older than 190 s go
    assert len(index) == 10 and index.query([185]) == []
    # A record met again by the topic reader after its producer indexed it ahead is not added twice.
    assert index.add([7], Ref(0, 7_000), 290.0, ahead=True)
    assert not index.add([7], Ref(0, 7_000), 290.0)
    assert [c.ref for c in index.query([7])] == [Ref(0, 7_000)]


def test_index_finds_every_article_after_its_keys_were_merged_into_the_sorted_shards():
    rng = random.Random(5)
    index = LinkIndex(window_s=1e9, max_articles=10_000, sketch_len=8, merge_min=500)
    keys = [[rng.getrandbits(64) for _ in range(32)] for _ in range(1_000)]
    for n, k in enumerate(keys):
        index.add(k, Ref(n % 3, n), 0.0, bytes([n % 256]) * 8)
    assert all(index.query(keys[n])[0].ref == Ref(n % 3, n) for n in range(0, 1_000, 7))
    assert index.query([rng.getrandbits(64)]) == []


def _query_one_by_one(articles: list, bands: list[int], sketch: bytes, n: int, min_similarity: float, limit: int) -> list[Candidate]:
    """What ``LinkIndex.query`` answers, from the live ``articles`` (band keys, sketch as the index
    stores it, ref; oldest first) taken one at a time."""
    hits = []
    for age, (keys, stored, ref) in enumerate(articles):
        shared = sum(key in keys for key in bands)
        sim = sketch_similarity(sketch[:n], stored) if n and sketch else 0.0
        if shared and sim >= min_similarity:
            hits.append((sim, shared, age, ref))
    hits.sort(reverse=True)
    return [Candidate(ref, shared, sim) for sim, shared, _, ref in hits[:limit]]


@pytest.mark.parametrize("sketch_len", [96, 0])
def test_query_scores_every_candidate_as_one_by_one_comparison_does(sketch_len):
    rng = random.Random(11)
    # Few distinct band keys, so that a query meets hundreds of candidates sharing 1 to 6 of its keys.
    # Keys below and above 2**63, and neighbours that are equal as float64, which are different keys.
    pool = [rng.getrandbits(62) for _ in range(20)] + [rng.getrandbits(64) | 1 << 63 for _ in range(20)]
    pool += [pool[0] + 1, pool[20] + 1, 2**60, 2**60 + 1]
    # Sketches from a few templates, most copied whole, so that similarities tie often.
    templates = [rng.randbytes(96) for _ in range(6)]

    def article_sketch() -> bytes:
        t = bytearray(rng.choice(templates))
        for j in rng.sample(range(96), rng.choice([0, 0, 0, 5, 30, 90])):
            t[j] = rng.randrange(256)
        return bytes(t[: rng.choice([96, 96, 96, 40])])  # a few short ones, zero-padded by the index

    index = LinkIndex(window_s=1e9, max_articles=2_500, sketch_len=sketch_len, merge_min=700)
    articles = []
    for n in range(3_000):  # the first 500 are evicted, some still in the sorted shards
        keys = [rng.choice(pool) for _ in range(rng.randint(1, 4))]  # an article may repeat a key
        sketch = article_sketch()
        index.add(keys, Ref(n % 4, n), 0.0, sketch)
        articles.append((set(keys), sketch[:sketch_len].ljust(sketch_len, b"\0"), Ref(n % 4, n)))
    live = articles[-2_500:]
    assert index._recent and any(len(k) for k in index._keys)  # noqa: SLF001 - both places hold keys

    queries = [([rng.choice(pool) for _ in range(rng.randint(1, 8))], article_sketch()) for _ in range(60)]
    queries += [([pool[0], pool[0], pool[21]], templates[0]), ([2**60], templates[1]), ([pool[40]], templates[2][:50]),
                ([pool[1]], b""), ([], templates[0]), ([rng.getrandbits(64)], templates[0])]
    most = 0
    for bands, sketch in queries:
        for min_similarity, limit in [(0.0, 3), (0.0, 10_000), (0.3, 10_000), (0.95, 5)]:
            want = _query_one_by_one(live, bands, sketch, sketch_len, min_similarity, limit)
            got = index.query(bands, sketch, min_similarity=min_similarity, limit=limit)
            assert got == want, (bands, min_similarity, limit)
            assert all(type(c.bands) is int and type(c.similarity) is float for c in got)
            most = max(most, len(got))
    assert most > 500
    # Ties: candidates with the same similarity and the same shared bands (ordered most recent first).
    full = index.query(queries[0][0], queries[0][1], limit=10_000)
    assert 1 < len({(c.similarity, c.bands) for c in full}) < len(full) / 10

    index.evict(2e9)  # every article gone, their keys still in the sorted shards until the next merge
    assert len(index) == 0 and all(index.query(bands, sketch) == [] for bands, sketch in queries)
    assert LinkIndex(window_s=10, max_articles=10, sketch_len=96).query(queries[0][0], queries[0][1]) == []


def test_alignment_restores_a_dictionary_spun_copy_to_its_source(originals, spun_copy):
    for seed, a in enumerate(originals):
        copy = spun_copy(a, seed)
        assert copy["pairs"], "the test dictionary spins every original"
        spun, source = f"{copy['title']}\n\n{copy['text']}", f"{a['title']}\n\n{a['text']}"
        edits = source_edits(align(spun, source), [])
        # Every substitution sits between aligned words or at the start or end of both texts.
        assert all(e.kind == "source" and e.confidence >= 0.9 for e in edits)
        assert apply_edits(spun, edits) == source


def test_unaligned_parts_keep_the_restorers_edits(originals, spun_copy):
    from workers.restoration import default_restorer

    a = originals[0]
    extra = " The corporate mentioned 1000's of jobs."
    copy = spun_copy(a, 1)["text"] + extra
    alignment = align(copy, a["text"])
    restorer = default_restorer()
    whole = restorer.restore(copy)  # the whole copy gives too little evidence of spinning:
    assert whole.family is None and "corporate mentioned" in whole.text  # only near-certain edits, if any
    edits = source_edits(alignment, unaligned_edits(copy, alignment, lambda t: restorer.restore(t).edits))
    restored = apply_edits(copy, edits)
    assert restored.startswith(a["text"]) and "said thousands of jobs" in restored
    assert {e.kind for e in edits} > {"source"}


def test_the_spun_side_is_the_one_with_rarer_words(originals, spun_copy):
    from workers.restoration.ngram import default_model

    model = default_model()
    for seed, a in enumerate(originals):
        copy = spun_copy(a, seed)["text"]
        assert copy_evidence(align(copy, a["text"]), model.count) > 0
        assert copy_evidence(align(a["text"], copy), model.count) < 0


def test_pairs_are_learned_from_distinct_articles_only(originals, spun_copy):
    counter = PairCounter(min_articles=3)
    learned = []
    for seed, a in enumerate(originals):
        copy = spun_copy(a, seed)
        obs = observations(align(copy["text"], a["text"]).substitutions, copy["id"])
        assert obs and all(" " not in o.article for o in obs)
        for o in obs + obs:  # delivered twice: counted once
            if counter.add(o.spun, o.original, o.article):
                learned.append((o.spun, o.original))
    assert learned and all(counter.learned[p] >= 3 for p in learned)
    entries, problems = parse_lines(table_lines(counter.entries()), "learned", "export")
    assert not problems
    assert {(s, e.original) for e in entries for s in e.substitutes} == set(counter.learned)


def test_fingerprint_records_of_the_earlier_layout_are_skipped_quietly(caplog):
    import time
    from types import SimpleNamespace

    import orjson

    from workers.settings import Settings
    from workers.stream.linking import Linker

    linker = Linker(Settings())
    old = {"time": time.time(), "bands": ["ab", "cd"], "id": "x"}  # no "sketch": written before sketches
    linker._on_fingerprint(SimpleNamespace(value=orjson.dumps(old), partition=0, offset=3))
    assert len(linker.index) == 0 and not caplog.records
