"""Calibration parameters of the restorer, shipped as ``data/calibration.json``.

``edit``: Platt scaling of an edit's model posterior, ``conf = sigmoid(a * logit(p) + b)``;
``doc``: document spin score ``sigmoid(a * llr_per_sqrt + b)`` over the article's log-likelihood
ratio; ``rho``: per-occurrence substitution rate assumed for spun articles; ``lm_weight``: scale of
the n-gram log-probabilities (natural log units). Fitted by ``workers.evaluation.restoration`` on
emulated spins of held-out press releases; defaults are used when the file is missing.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

DEFAULT_PATH = Path(__file__).parent / "data" / "calibration.json"


@dataclass
class Calibration:
    """Parameters described in the module docstring; ``fitted_on`` says where they came from."""

    edit_a: float = 1.0
    edit_b: float = 0.0
    doc_a: float = 1.0
    doc_b: float = 0.0
    rho: float = 0.5
    doc_prior: float = 0.5
    lm_weight: float = 1.0
    edit_weights: list = field(default_factory=list)
    doc_weights: list = field(default_factory=list)
    fitted_on: str = "defaults"
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str | None = None) -> "Calibration":
        """Read the JSON file; missing or unreadable files give the defaults (never raises)."""
        p = Path(path) if path is not None else DEFAULT_PATH
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            return cls(**known)
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, path: Path | str | None = None) -> None:
        """Write the JSON file."""
        p = Path(path) if path is not None else DEFAULT_PATH
        p.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")

    def edit_confidence(self, p: float, features: list[float] | None = None) -> float:
        """Calibrated probability that an edit is right. With ``edit_weights`` (intercept first, then
        one weight per feature of ``Restorer.edit_features``) a logistic model over ``features``;
        otherwise Platt scaling of the model posterior ``p``."""
        return self.edit_confidences([p], None if features is None else [features])[0]

    def edit_confidences(self, ps: Sequence[float], features: Sequence[Sequence[float]] | None = None) -> list[float]:
        """``edit_confidence`` of many edits at once: posteriors ``ps`` and, per edit, its features."""
        if not len(ps):
            return []
        w = self.edit_weights
        if w and features is not None and len(features[0]) + 1 == len(w):
            z = w[0] + np.asarray(features, dtype=np.float64) @ np.asarray(w[1:], dtype=np.float64)
        else:
            p = np.clip(np.asarray(ps, dtype=np.float64), 1e-9, 1 - 1e-9)
            z = self.edit_a * np.log(p / (1 - p)) + self.edit_b
        return (1.0 / (1.0 + np.exp(-np.clip(z, -700.0, 700.0)))).tolist()

    def doc_score(self, llr: float, n_tokens: int, top: float = 0.0) -> float:
        """Probability the article is spun (see ``doc_logit``)."""
        return sigmoid(self.doc_logit(llr, n_tokens, top))

    def doc_logit(self, llr: float, n_tokens: int, top: float = 0.0) -> float:
        """Log-odds that the article is spun, from its log-likelihood ratio ``llr`` (nats) per square root
        of its length in tokens (the naive-Bayes sum over-counts dependent evidence in long articles, so
        a short, lightly spun article must not need the total of a long one) and, with ``doc_weights``
        (intercept first, then one weight per ``DOC_FEATURES``), its strongest signatures ``top`` (nats:
        the largest form log-likelihood ratios of the article), which carry short texts."""
        c0, c_llr, c_top = self.doc_linear(n_tokens)
        return c0 + c_llr * llr + c_top * top


    def doc_linear(self, n_tokens: int) -> tuple[float, float, float]:
        """``doc_logit`` for an article of ``n_tokens`` tokens as ``(c0, c_llr, c_top)`` with
        ``doc_logit(llr, n_tokens, top) == c0 + c_llr * llr + c_top * top``: the restorer evaluates it for
        every form of an article. The same model as ``doc_weights`` applied to ``doc_features``."""
        if self.doc_weights and len(self.doc_weights) == len(DOC_FEATURES) + 1:
            w = self.doc_weights
            n = max(MIN_DOC_TOKENS, n_tokens)
            return w[0] + w[3] * math.log(n), w[1] / math.sqrt(max(1, n)), w[2]
        return self.doc_b, self.doc_a / math.sqrt(max(1, n_tokens)), 0.0


def doc_feature(llr: float, n_tokens: int) -> float:
    """The document calibration's input: ``llr / sqrt(n_tokens)``."""
    return llr / math.sqrt(max(1, n_tokens))


DOC_FEATURES = ("llr_per_sqrt_tokens", "top_signatures", "log_tokens")
MIN_DOC_TOKENS = 8  # the shortest texts the document model was fitted on


def doc_features(llr: float, n_tokens: int, top: float) -> tuple[float, float, float]:
    """Inputs of the document model, in the order of ``DOC_FEATURES``. Lengths below ``MIN_DOC_TOKENS``
    count as that: the model is fitted on texts of a sentence or more, and "OK." is no evidence of spinning."""
    n = max(MIN_DOC_TOKENS, n_tokens)
    return doc_feature(llr, n), top, math.log(n)


def sigmoid(x: float) -> float:
    """Logistic function, overflow-safe."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-min(x, 700)))
    e = math.exp(max(x, -700))
    return e / (1.0 + e)


def fit_logistic(X: np.ndarray, y: np.ndarray, iters: int = 100, l2: float = 1e-2) -> list[float]:
    """L2-regularised logistic regression by Newton's method; ``X`` [n, d] floats, ``y`` [n] 0/1.
    Returns [intercept, w_1..w_d] (the intercept is not regularised)."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    A = np.hstack([np.ones((len(X), 1)), X])
    w = np.zeros(A.shape[1])
    R = l2 * np.eye(A.shape[1])
    R[0, 0] = 0.0
    for _ in range(iters):
        z = np.clip(A @ w, -50, 50)
        p = 1 / (1 + np.exp(-z))
        g = A.T @ (p - y) + R @ w
        H = (A * (p * (1 - p))[:, None]).T @ A + R + 1e-9 * np.eye(A.shape[1])
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return [float(v) for v in w]


def fit_platt(x: np.ndarray, y: np.ndarray, iters: int = 50, l2: float = 1e-3) -> tuple[float, float]:
    """Fit ``P(y=1) = sigmoid(a * x + b)`` by Newton's method; ``x`` float array, ``y`` 0/1 array.
    Returns (a, b); (1, 0) when ``y`` has one class only."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if len(x) == 0 or y.min() == y.max():
        return 1.0, 0.0
    w = np.zeros(2)
    X = np.stack([x, np.ones_like(x)], 1)
    for _ in range(iters):
        z = np.clip(X @ w, -50, 50)
        p = 1 / (1 + np.exp(-z))
        g = X.T @ (p - y) + l2 * w
        H = (X * (p * (1 - p))[:, None]).T @ X + l2 * np.eye(2)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(w[0]), float(w[1])
