"""Which words a spinner built from a general lexicon (WordNet, a thesaurus) may replace.

One rule for the shipped WordNet family (``wordnet_family.py``) and the evaluation's spinners
(``workers.evaluation.spinners``, ``workers.evaluation.groups.mythes_groups``), so that what the
restorer learns and what it is tested on leave the same words alone.
"""

from __future__ import annotations

# Function words are never spun (the lexicons still list some: "a" (vitamin A), "in" (inch), "us",
# "will", "may", "can", "be", "have"): a spinner that rewrote them would garble every sentence.
FUNCTION_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each either few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just may me might mine
more most must my myself neither no nor not now of off on once one only or other ought our ours ourselves
out over own same she should so some such than that the their theirs them themselves then there these they
this those through to too under until up upon us very was we were what when where whether which while who
whom whose why will with within without would yet you your yours yourself yourselves
""".split())


def spinnable(word: str, letters_only: bool = True) -> bool:
    """Whether a spinner may replace ``word`` (a lexicon's head word or lemma, as written).

    Never a function word (``FUNCTION_WORDS``) nor a single character (WordNet lists "s" as
    "second", which would break every "U.S."). With ``letters_only`` (the WordNet family and
    spinner, the thesaurus group files) the word must also be lower-case letters only; the
    thesaurus spinner passes False and also spins its numbers, hyphenated and multiword heads
    ("10" -> "ten", "well-known"). Case-sensitive: "Can" is not a function word here.
    """
    if len(word) < 2 or word in FUNCTION_WORDS:
        return False
    return not letters_only or (word.isalpha() and word.islower())
