"""The shipped n-gram model (workers/restoration/data/ngram.npz): counts, scores, loading."""

from __future__ import annotations

import math
import random

import pytest

from workers.restoration.build.ngram import is_held_out
from workers.restoration.ngram import DEFAULT_PATH, NgramModel, default_model
from workers.restoration.tokens import norms


@pytest.fixture(scope="module")
def model() -> NgramModel:
    return default_model()


def test_loads_from_default_path(model):
    assert DEFAULT_PATH.is_file()
    assert default_model() is model  # cached
    m = NgramModel.load()
    assert m.version == model.version and m.total == model.total and m.vocab_size == model.vocab_size
    assert model.total > 30_000_000
    assert 50_000 < model.vocab_size < 1 << 21
    assert model.meta["min_word_count"] == 2
    assert "Senate" in model.meta["corpus"]


def test_common_ngrams_are_counted(model):
    assert model.count(["the"]) > 1_000_000
    assert model.count(["said", "the"]) > 1000
    assert model.count(["of", "the"]) > model.count(["said", "the"])
    assert model.count(["the", "company", "said"]) > 0
    assert model.count(norms("thousands of residents")) > 0


def test_unseen_ngrams_are_zero(model):
    assert model.count(["zzqxv"]) == 0
    assert model.count(["the", "zzqxv"]) == 0
    assert model.count(["the", "corporate", "mentioned"]) == 0
    assert model.count(["of", "of", "of"]) == 0


def test_long_ngram_count_is_trigram_upper_bound(model):
    toks = norms("hundreds of new jobs")
    c = model.count(toks)
    assert 0 <= c <= min(model.count(toks[i:i + 3]) for i in range(len(toks) - 2))
    assert model.count([]) == model.total


def test_tokens_are_normalised_on_lookup(model):
    assert model.count(["Said", "The"]) == model.count(["said", "the"])


@pytest.mark.parametrize(
    "natural, spun",
    [
        ("the company said", "the corporate mentioned"),
        ("hundreds of new drivers", "a whole lot of latest drivers"),
        ("thousands of residents", "1000's of residents"),
        ("the senator said that", "the senator mentioned that"),
    ],
)
def test_natural_phrasing_outscores_spun(model, natural, spun):
    assert model.logprob(norms(natural)) > model.logprob(norms(spun))


def test_logprob_is_additive_in_start(model):
    toks = norms("He said the company will hire hundreds of new workers next year.")
    total = model.logprob(toks)
    for k in range(len(toks) + 1):
        assert math.isclose(model.logprob(toks[:k]) + model.logprob(toks, k), total, abs_tol=1e-9)
    assert model.logprob(toks, len(toks)) == 0.0
    assert all(s <= 0 for s in model.token_scores(toks))


def test_score_many_matches_logprob(model):
    windows = [norms("the company said it would"), norms("the corporate mentioned it would"), ["zzqxv"], []]
    starts = [2, 2, 0, 0]
    got = model.score_many(windows, starts)
    want = [model.logprob(w, s) for w, s in zip(windows, starts)]
    assert all(math.isclose(g, w, abs_tol=1e-9) for g, w in zip(got, want))
    assert model.score_many([], []) == []


def test_out_of_vocabulary_word_scores_finite(model):
    assert math.isfinite(model.logprob(["the", "zzqxv", "said"]))


def test_held_out_rule_is_stable():
    names = [f"raw/Senator/{i:05d}.txt" for i in range(2000)]
    share = sum(map(is_held_out, names)) / len(names)
    assert 0.03 < share < 0.07
    assert is_held_out(names[0]) == is_held_out(names[0])


def test_windows_scored_in_one_batch_equal_each_scored_alone(model):
    # score_many shares a cache of positions between windows; every window must still get its own score
    rng = random.Random(7)
    toks = norms("The senator said the company will hire hundreds of new workers next year, and the zzqxv "
                 "corporate mentioned that 1000's of residents got here to the meeting in Washington.")
    windows, starts = [], []
    for _ in range(3000):
        a = rng.randrange(len(toks))
        windows.append(toks[a : a + rng.randint(1, 7)])
        starts.append(rng.randint(0, 3))
    got = model.score_many(windows, starts)
    assert all(math.isclose(g, model.logprob(w, s), abs_tol=1e-9) for g, w, s in zip(got, windows, starts))


def test_counts_agree_with_the_sorted_keys(model):
    # lookups search one run of the file's layout; the packed sorted keys are an independent reading of it
    mask = (1 << 21) - 1
    for keys, counts, n in ((model.bi_keys, model.bi_counts, 2), (model.tri_keys, model.tri_counts, 3)):
        for k in range(0, len(keys), len(keys) // 400):
            ids = [int(keys[k]) >> (21 * (n - 1 - t)) & mask for t in range(n)]
            if 0 not in ids:
                assert model.count([model.words[i] for i in ids]) == counts[k]
