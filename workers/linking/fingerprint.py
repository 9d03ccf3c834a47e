"""Fingerprints of articles that survive heavy spinning.

A spinner replaces content words (nouns, verbs, adjectives, adverbs) with synonyms and leaves the
words that carry no meaning of their own alone. The sequence of those *immutable* tokens is therefore
almost the same in a source and in its spun copy, and different in another article on the same topic
(same names, different sentences). Linking through immutables follows DSpin (Zhang, Wang and Voelker,
NDSS 2014). Which tokens are immutable was measured on press releases spun by a thesaurus spinner:
determiners, pronouns, auxiliaries and conjunctions stay; prepositions and particles do not (they come
and go inside multiword synonyms: "increase" -> "step up", "solve" -> "sort out"), and neither do names
and numbers (spinners rewrite "Bill" as "Invoice", "thousands" as "1000's", "Homeland" as "Country of
origin").

:func:`fingerprint` turns a text into the set of n-grams (shingles) of its immutable tokens, a MinHash
signature of that set (datasketch), its LSH band keys (one 64-bit integer per band) and a sketch of
one byte per permutation (the low byte of each MinHash value: b-bit MinHash, Li and König 2010) that
estimates the similarity of two fingerprints without their texts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from workers.restoration.tokens import tokenize

# Closed-class words that stay in place when a spinner rewrites the words around them. None is a spun
# form or an original of the shipped spinner table (a test keeps it so).
FUNCTION_WORDS = frozenset(
    """a an the this that these which who whom whose what when why how it its he him his she her
    hers they them their theirs we us our you your i me my be is are been being am has have had do
    does did and or nor if than as there here no""".split()
)


@dataclass(frozen=True)
class Fingerprint:
    """A text's fingerprint: ``shingles`` (set of immutable-token n-grams, joined by spaces),
    ``bands`` (LSH band keys, one unsigned 64-bit int per band; empty when the text has no shingle),
    ``sketch`` (one byte per MinHash permutation; empty likewise)."""

    shingles: frozenset[str]
    bands: tuple[int, ...]
    sketch: bytes = b""

    def jaccard(self, other: "Fingerprint") -> float:
        """Exact Jaccard similarity of the two shingle sets, in [0, 1] (0 when either is empty)."""
        if not self.shingles or not other.shingles:
            return 0.0
        return len(self.shingles & other.shingles) / len(self.shingles | other.shingles)


def immutable_tokens(text: str) -> list[str]:
    """The normalised tokens of ``text`` a spinner leaves alone (:data:`FUNCTION_WORDS`), in order."""
    return [t.norm for t in tokenize(text) if t.norm in FUNCTION_WORDS]


def sketch_similarity(a: bytes, b: bytes) -> float:
    """Jaccard similarity estimated from two sketches of equal length (b-bit MinHash with 8 bits:
    unrelated values agree by chance 1 time in 256), clipped to [0, 1]; 0 when either is empty."""
    if not a or len(a) != len(b):
        return 0.0
    agree = sum(x == y for x, y in zip(a, b)) / len(a)
    return min(1.0, max(0.0, (agree - 1 / 256) / (1 - 1 / 256)))


def shingles(text: str, size: int = 4) -> frozenset[str]:
    """The ``size``-grams of the immutable tokens of ``text`` (a shorter text gives one shingle of all)."""
    toks = immutable_tokens(text)
    if len(toks) < size:
        return frozenset([" ".join(toks)]) if toks else frozenset()
    return frozenset(" ".join(toks[i : i + size]) for i in range(len(toks) - size + 1))


@lru_cache(maxsize=8)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) that datasketch's MinHashLSH picks for this Jaccard threshold and
    number of permutations (equal weight on false positives and false negatives)."""
    return _optimal_param(threshold, num_perm, 0.5, 0.5)


def fingerprint(text: str, *, shingle_size: int = 4, num_perm: int = 96, threshold: float = 0.3, seed: int = 1) -> Fingerprint:
    """Fingerprint of ``text`` (see the module docstring).

    ``num_perm``: MinHash permutations; ``threshold``: the Jaccard similarity at which a pair
    becomes an LSH candidate with probability about 1/2 (sets bands and rows); ``seed``: MinHash
    seed (every worker must use the same). Never raises for any ``str``.
    """
    sh = shingles(text, shingle_size)
    if not sh:
        return Fingerprint(sh, ())
    m = MinHash(num_perm=num_perm, seed=seed)
    m.update_batch([s.encode("utf-8") for s in sh])
    bands, rows = lsh_params(threshold, num_perm)
    hv = m.hashvalues.astype(np.uint64)
    keys = []
    for b in range(bands):
        digest = hashlib.blake2b(hv[b * rows : (b + 1) * rows].tobytes(), digest_size=8, person=b.to_bytes(2, "big")).digest()
        keys.append(int.from_bytes(digest, "big"))
    return Fingerprint(sh, tuple(keys), (hv & 0xFF).astype(np.uint8).tobytes())
