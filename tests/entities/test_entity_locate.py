"""Mapping restored-text mentions back to the spun text through the restorer's edits."""

from workers.entities import locate
from workers.restoration.edits import Edit, OffsetMap, apply_edits

SPUN = (
    "Officers on the White Home mentioned the Nationwide Safety Council met on Tuesday. "
    "The Joined States and the Financial institution of Portland agreed, Dana Whitfield mentioned."
)
SWAPS = [
    ("White Home", "White House"),
    ("mentioned", "said"),
    ("Nationwide Safety Council", "National Security Council"),
    ("Joined States", "United States"),
    ("Financial institution", "Bank"),
    ("mentioned", "said"),
]


def make_edits(text: str, swaps) -> list[Edit]:
    edits, pos = [], 0
    for spun, restored in swaps:
        i = text.index(spun, pos)
        edits.append(Edit(i, i + len(spun), spun, restored, 0.9, "phrase"))
        pos = i + len(spun)
    return edits


def test_locate_maps_to_spun_forms(extractor):
    edits = make_edits(SPUN, SWAPS)
    restored = apply_edits(SPUN, edits)
    assert "National Security Council" in restored and "The United States" in restored
    mentions = locate(extractor.extract(restored), OffsetMap(edits), SPUN)
    for m in mentions:
        assert restored[m.start : m.end] == m.text
    nsc = next(m for m in mentions if "National Security Council" in m.text)
    assert SPUN[nsc.source_start : nsc.source_end].endswith("Nationwide Safety Council")
    us = next(m for m in mentions if "United States" in m.text)
    assert SPUN[us.source_start : us.source_end].endswith("Joined States")
    assert us.canonical == "United States"
    wh = [m for m in mentions if "White House" in m.text]
    if wh:
        assert SPUN[wh[0].source_start : wh[0].source_end].endswith("White Home")
    dana = next(m for m in mentions if m.text == "Dana Whitfield")
    assert SPUN[dana.source_start : dana.source_end] == "Dana Whitfield"  # outside any edit: shifted exactly


def test_locate_partial_edit_and_deletion():
    from workers.entities import Mention

    text = "the Nationwide Safety Council of of Ohio"
    edits = [
        Edit(4, 14, "Nationwide", "National", 0.9, "word"),
        Edit(15, 21, "Safety", "Security", 0.9, "word"),
        Edit(30, 33, "of ", "", 0.8, "grammar"),
    ]
    restored = apply_edits(text, edits)
    assert restored == "the National Security Council of Ohio"
    ms = [
        Mention("National Security Council", "ORG", 4, 29, 4, 29),
        Mention("Ohio", "GPE", 33, 37, 33, 37),
        Mention("Nation", "ORG", 4, 10, 4, 10),  # part of an edit -> the whole spun word
    ]
    out = locate(ms, OffsetMap(edits), text)
    assert [text[m.source_start : m.source_end] for m in out] == ["Nationwide Safety Council", "Ohio", "Nationwide"]
    assert [(m.start, m.end) for m in out] == [(m.start, m.end) for m in ms]


def test_locate_without_edits_is_identity(extractor):
    text = "Angela Merkel visited Paris."
    ms = extractor.extract(text)
    assert locate(ms, OffsetMap([]), text) == ms


def test_locate_rejects_foreign_map():
    import pytest

    from workers.entities import Mention

    with pytest.raises(ValueError):
        locate([Mention("Ohio", "GPE", 50, 54, 50, 54)], OffsetMap([]), "short")
