"""Build the word n-gram model shipped as ``workers/restoration/data/ngram.npz``.

Run from the repository root::

    python -m workers.restoration.build.ngram --shared ../shared --out workers/restoration/data/ngram.npz

Corpus: Grimmer's US Senate press releases 2004-2008 (``<shared>/corpora/grimmer_senate_press_releases/``,
72,644 ``.txt`` files in one tar.gz, read directly without extracting). Files listed in
``files_possibly_third_party_copyright.txt`` (wire copy, newspaper reposts) are excluded, and a fixed 5 %
of the files is held out for evaluation (:func:`is_held_out`). Files that are not valid UTF-8 are decoded
as latin-1. Text is tokenised with :func:`workers.restoration.tokens.norms`; each document is one token
stream and no n-gram crosses a document boundary.

Output (``np.savez_compressed``), read by :class:`workers.restoration.ngram.NgramModel`:

- ``vocab``: UTF-8 bytes of the vocabulary words joined by ``"\\n"``; word id = line index + 1. Id 0 is
  ``<unk>``. Words are those with count >= ``--min-word`` (default 2), most frequent first.
- ``uni_counts`` (uint64, ``[V+1]``): token count per id; ``uni_counts[0]`` counts all out-of-vocabulary tokens.
- ``bi_run`` (uint32, ``[V+1]``): number of stored bigrams per first word id; ``bi_w2`` (uint32): second
  word ids, gap-coded within each first word (first value absolute); ``bi_counts`` (uint32).
  Bigrams are sorted by key ``w1 << 21 | w2``.
- ``tri_run`` (uint32, one per stored bigram): number of stored trigrams continuing that bigram;
  ``tri_w3`` (uint32, gap-coded per bigram); ``tri_counts`` (uint32). Sorted by ``w1 << 42 | w2 << 21 | w3``.
- ``meta``: JSON bytes (corpus, licence, token counts, pruning thresholds, build date, version).

N-grams containing ``<unk>`` are not stored. Bigrams with count < ``--min-bigram`` and trigrams with
count < ``--min-trigram`` are pruned (defaults 2 and 2); trigram pruning is never weaker than bigram
pruning, so every stored trigram's first two words are a stored bigram.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

from workers.restoration.tokens import norms

CORPUS_DIR = Path("corpora") / "grimmer_senate_press_releases"
TARBALL = "grimmer_senate_press_releases_2004-2008.tar.gz"
EXCLUDE_LIST = "files_possibly_third_party_copyright.txt"
BITS = 21  # bits per word id in packed keys; vocabulary must stay below 2**21 ids
VERSION = "senate-2004-2008-ngram3-v1"


def is_held_out(member_name: str) -> bool:
    """True for the ~5 % of corpus files kept out of the model for evaluation.

    ``member_name`` is the path inside the tar, e.g. ``"raw/Akaka/10Apr2007akaka175.txt"``. The rule is
    ``int(sha1(member_name).hexdigest(), 16) % 20 == 0``; it is stable across machines and runs.
    """
    return int(hashlib.sha1(member_name.encode()).hexdigest(), 16) % 20 == 0


def read_excluded(corpus_dir: Path) -> set[str]:
    """Member names listed as possibly third-party copyright (one path per line)."""
    path = corpus_dir / EXCLUDE_LIST
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def iter_documents(corpus_dir: Path, *, held_out: bool = False, progress: bool = True):
    """Yield ``(member_name, text)`` for the kept corpus files, in tar order.

    ``held_out=False`` yields the training files, ``held_out=True`` only the evaluation files; files in the
    third-party-copyright list are skipped in both cases.
    """
    excluded = read_excluded(corpus_dir)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=72644, unit="file", desc="reading", file=sys.stderr, mininterval=0.5)
    with tarfile.open(corpus_dir / TARBALL, "r:gz") as tf:
        for member in tf:
            if bar is not None:
                bar.update(1 if member.isfile() else 0)
            if not member.isfile() or not member.name.endswith(".txt"):
                continue
            if member.name in excluded or is_held_out(member.name) != held_out:
                continue
            data = tf.extractfile(member).read()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
            yield member.name, text
    if bar is not None:
        bar.close()


def _gap_code(values: np.ndarray, run: np.ndarray) -> np.ndarray:
    """Gap-code sorted ``values`` in consecutive groups of ``run[j]`` items: the first item of each group
    is kept absolute, the others become differences to their predecessor (all fit uint32)."""
    v = values.astype(np.int64)
    out = v.copy()
    out[1:] -= v[:-1]
    starts = (np.cumsum(run) - run)[run > 0]
    out[starts] = v[starts]
    assert out.min(initial=0) >= 0
    return out.astype(np.uint32)


def build(shared: Path, out: Path, *, min_word: int = 2, min_bigram: int = 2, min_trigram: int = 2) -> dict:
    """Count the training files and write the model to ``out``; returns the metadata written."""
    min_trigram = max(min_trigram, min_bigram)
    t0 = time.time()
    corpus_dir = shared / CORPUS_DIR

    # 1. Tokenise into one stream of provisional ids; -1 separates documents.
    prov: dict[str, int] = {}
    chunks: list[np.ndarray] = []
    n_docs = 0
    for _name, text in iter_documents(corpus_dir):
        toks = norms(text)
        ids = [prov.setdefault(t, len(prov)) for t in toks]
        ids.append(-1)
        chunks.append(np.asarray(ids, dtype=np.int32))
        n_docs += 1
    stream = np.concatenate(chunks)
    del chunks
    sep = stream < 0
    n_tokens = int(len(stream) - sep.sum())
    print(f"{n_docs} documents, {n_tokens} tokens, {len(prov)} types ({time.time() - t0:.1f}s)", file=sys.stderr)

    # 2. Vocabulary: count >= min_word, most frequent first (ties alphabetical); id 0 = <unk>.
    counts = np.bincount(stream[~sep], minlength=len(prov))
    words = np.array(list(prov), dtype=object)
    keep = np.flatnonzero(counts >= min_word)
    order = sorted(keep.tolist(), key=lambda i: (-counts[i], words[i]))
    if len(order) + 1 >= 1 << BITS:
        raise SystemExit(f"vocabulary of {len(order)} words does not fit {BITS}-bit ids")
    remap = np.zeros(len(prov) + 1, dtype=np.int64)  # last slot: separator
    remap[np.asarray(order, dtype=np.int64)] = np.arange(1, len(order) + 1)
    remap[-1] = -1
    vocab = [words[i] for i in order]
    a = remap[stream]  # int64, -1 = separator, 0 = <unk>
    del stream, sep
    uni = np.zeros(len(vocab) + 1, dtype=np.uint64)
    uni[1:] = counts[np.asarray(order, dtype=np.int64)]
    uni[0] = n_tokens - int(uni[1:].sum())
    print(f"vocabulary {len(vocab)} words, <unk> tokens {int(uni[0])} ({time.time() - t0:.1f}s)", file=sys.stderr)

    # 3. Bigrams and trigrams without <unk> or document separators.
    ok = a > 0
    m2 = ok[:-1] & ok[1:]
    k2 = (a[:-1][m2] << BITS) | a[1:][m2]
    bi_keys, bi_counts = np.unique(k2, return_counts=True)
    del k2, m2
    n_bi_all = len(bi_keys)
    bi_sel = bi_counts >= min_bigram
    bi_keys, bi_counts = bi_keys[bi_sel], bi_counts[bi_sel]
    print(f"bigrams {n_bi_all} distinct, {len(bi_keys)} kept ({time.time() - t0:.1f}s)", file=sys.stderr)

    m3 = ok[:-2] & ok[1:-1] & ok[2:]
    k3 = (a[:-2][m3] << (2 * BITS)) | (a[1:-1][m3] << BITS) | a[2:][m3]
    del m3, ok, a
    tri_keys, tri_counts = np.unique(k3, return_counts=True)
    del k3
    n_tri_all = len(tri_keys)
    tri_sel = tri_counts >= min_trigram
    tri_keys, tri_counts = tri_keys[tri_sel], tri_counts[tri_sel]
    print(f"trigrams {n_tri_all} distinct, {len(tri_keys)} kept ({time.time() - t0:.1f}s)", file=sys.stderr)

    # 4. Compact layout: run lengths per context plus gap-coded last ids.
    mask = (1 << BITS) - 1
    bi_w1 = bi_keys >> BITS
    bi_run = np.bincount(bi_w1, minlength=len(vocab) + 1).astype(np.uint32)
    bi_w2 = _gap_code(bi_keys & mask, bi_run)
    tri_ctx = tri_keys >> BITS
    ctx_idx = np.searchsorted(bi_keys, tri_ctx)
    assert np.array_equal(bi_keys[ctx_idx], tri_ctx), "trigram context missing from bigrams"
    tri_run = np.bincount(ctx_idx, minlength=len(bi_keys)).astype(np.uint32)
    tri_w3 = _gap_code(tri_keys & mask, tri_run)

    meta = {
        "version": VERSION,
        "corpus": "Grimmer US Senate press releases 2004-2008 (github.com/lintool/GrimmerSenatePressReleases, "
        "commit 2c7bab8837f934437a9fdbb8460876fde31f5cae)",
        "licence": "Press releases of US Senate offices: works of the US Government, public domain in the US "
        "(17 U.S.C. 105). Files flagged as possibly third-party copyright were excluded. Only derived n-gram "
        "counts are shipped.",
        "documents": n_docs,
        "excluded_list": EXCLUDE_LIST,
        "held_out_rule": "int(hashlib.sha1(member_name.encode()).hexdigest(), 16) % 20 == 0 (excluded from counts)",
        "tokenizer": "workers.restoration.tokens.norms",
        "tokens": n_tokens,
        "vocab_size": len(vocab) + 1,
        "unk_tokens": int(uni[0]),
        "min_word_count": min_word,
        "min_bigram_count": min_bigram,
        "min_trigram_count": min_trigram,
        "bigrams_distinct": n_bi_all,
        "bigrams_kept": int(len(bi_keys)),
        "trigrams_distinct": n_tri_all,
        "trigrams_kept": int(len(tri_keys)),
        "id_bits": BITS,
        "smoothing": "stupid backoff, alpha 0.4 (Brants et al. 2007)",
        "build_date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "build_command": "python -m workers.restoration.build.ngram --shared ../shared --out "
        "workers/restoration/data/ngram.npz",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(
        tmp,
        vocab=np.frombuffer("\n".join(vocab).encode("utf-8"), dtype=np.uint8),
        uni_counts=uni,
        bi_run=bi_run,
        bi_w2=bi_w2,
        bi_counts=bi_counts.astype(np.uint32),
        tri_run=tri_run,
        tri_w3=tri_w3,
        tri_counts=tri_counts.astype(np.uint32),
        meta=np.frombuffer(json.dumps(meta, indent=1).encode("utf-8"), dtype=np.uint8),
    )
    tmp.replace(out)

    # Self-check: the runtime decodes exactly the keys and counts counted here.
    from workers.restoration.ngram import NgramModel

    model = NgramModel.load(out)
    assert np.array_equal(model.bi_keys[:-1], bi_keys) and np.array_equal(model.bi_counts[:-1], bi_counts)
    assert np.array_equal(model.tri_keys[:-1], tri_keys) and np.array_equal(model.tri_counts[:-1], tri_counts)
    assert model.words[1:] == vocab
    size = out.stat().st_size
    print(f"wrote {out} ({size / 1e6:.1f} MB) in {time.time() - t0:.1f}s", file=sys.stderr)
    return meta


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", type=Path, default=Path("../shared"), help="shared data root (default ../shared)")
    p.add_argument("--out", type=Path, default=Path("workers/restoration/data/ngram.npz"))
    p.add_argument("--min-word", type=int, default=2, help="vocabulary: minimum word count")
    p.add_argument("--min-bigram", type=int, default=2, help="prune bigrams below this count")
    p.add_argument("--min-trigram", type=int, default=2, help="prune trigrams below this count")
    args = p.parse_args(argv)
    build(args.shared, args.out, min_word=args.min_word, min_bigram=args.min_bigram, min_trigram=args.min_trigram)


if __name__ == "__main__":
    main()
