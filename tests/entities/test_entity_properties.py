"""Property test: any text in, no exception, offsets valid."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workers.entities import summarise

pieces = st.sampled_from([
    "Angela Merkel", "Paris", "the United States", " ", "\n", "\r\n", "\u00a0", "\u00ad", "\u200b", "\ufe0f",
    "\U0001F1FA\U0001F1F8", "\u201c", "\u201d", ". ", "Microsoft", "\ud800", "\udfff", "e\u0301", "IBM's",
])
texts = st.one_of(st.text(max_size=300), st.lists(st.one_of(pieces, st.text(max_size=5)), max_size=40).map("".join))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts)
def test_any_text_valid_offsets(extractor, text):
    [mentions] = extractor.extract_many([text])
    for m in mentions:
        assert 0 <= m.start < m.end <= len(text)
        assert text[m.start : m.end] == m.text
        assert m.canonical is not None
    summary = summarise(mentions)
    assert sum(e["mentions"] for e in summary) == len(mentions)
