"""Language identification of article text (py3langid, a fork of langid.py by Lui & Baldwin, BSD)."""

from __future__ import annotations

from functools import lru_cache

MIN_WORDS = 8  # shorter texts are too little evidence: taken as English
MIN_PROBABILITY = 0.9


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text``'s language; ``"en"`` unless another language is at least
    ``MIN_PROBABILITY`` likely over at least ``MIN_WORDS`` words. Never raises for a ``str``."""
    if len(text.split()) < MIN_WORDS:
        return "en"
    lang, prob = _identifier().classify(text[:1000])  # a thousand characters decide it
    return lang if lang != "en" and prob >= MIN_PROBABILITY else "en"
