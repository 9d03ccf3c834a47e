from hypothesis import given, settings
from hypothesis import strategies as st

from workers.restoration.edits import apply_edits

WORDS = ["mentioned", "corporate", "1000's", "p.c.", "got here", "{that a}", "{", "}", "|", "Invoice", "Nye",
         "\u200b", "\r\n", " ", ".", "yr", "I used to be", "É", "\U0001f600", "’s", "Nationwide Safety Council"]

texts = st.one_of(st.text(), st.lists(st.sampled_from(WORDS) | st.text(max_size=3)).map(" ".join))


@settings(max_examples=300, deadline=None)
@given(texts)
def test_any_string_restores_consistently(restorer, text):
    r = restorer.restore(text)
    last = 0
    for e in r.edits:
        assert last <= e.start <= e.end <= len(text)
        assert text[e.start : e.end] == e.original
        last = e.end
    assert apply_edits(text, r.edits) == r.text
    assert 0.0 <= r.spin_score <= 1.0
