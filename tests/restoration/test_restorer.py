import pytest

from workers.restoration.edits import apply_edits
from workers.restoration.restorer import Restorer

SPUN = (
    "Shares of Harbor Logistics fell 12 p.c. on Thursday after the corporate mentioned rising gas costs "
    "would lower its revenue this yr. Chief government Dana Whitfield mentioned 1000's of jobs were safe."
)

CLEAN = [
    "The committee said on Tuesday that it would hold a hearing next week on the budget request, "
    "which includes funding for roads, bridges and public transit in rural areas.",
    "Senator Smith said the bill would help thousands of families pay for college. The measure passed "
    "the Senate by a vote of 62 to 35 and now goes to the House.",
    "Officials expect the new rules to take effect in January. The agency has received more than "
    "2,000 comments from the public since the proposal was published last year.",
]


def test_restores_known_spun_forms(restorer):
    r = restorer.restore(SPUN)
    assert "12 percent" in r.text
    assert "the company said" in r.text
    assert "this year" in r.text
    assert "thousands of jobs" in r.text
    assert r.spin_score > 0.9
    assert apply_edits(SPUN, r.edits) == r.text


def test_multiword_and_capitalised(restorer):
    r = restorer.restore("1000's of people heard the Nationwide Safety Council, the report got here late. I used to be there.")
    assert r.text.startswith("Thousands of people heard the National Security Council")
    assert "the report came late" in r.text
    assert "I was there" in r.text


def test_all_caps_copies_case(restorer):
    r = restorer.restore("CORPORATE MENTIONED 1000'S OF JOBS CUT THIS YR after the corporate mentioned losses.")
    assert "THOUSANDS" in r.text


@pytest.mark.parametrize("text", CLEAN)
def test_clean_text_is_left_alone(restorer, text):
    r = restorer.restore(text)
    assert r.edits == [] and r.text == text
    assert r.spin_score < 0.5


def test_spintax_braces_removed(restorer):
    r = restorer.restore("Researchers found {that a} combination of drugs worked {well|nicely}.")
    assert r.text == "Researchers found that a combination of drugs worked well."
    assert {e.kind for e in r.edits} == {"spintax"}


def test_names_not_broken(restorer):
    text = "Senator Mark Warner and Bill Nelson said the Street Act would pass."
    r = restorer.restore(text)
    assert "Mark Warner" in r.text and "Bill Nelson" in r.text


def test_broken_name_restored(restorer):
    r = restorer.restore("Invoice Nelson mentioned the corporate would rent 1000's of workers this yr.")
    assert r.text.startswith("Bill Nelson said")


def test_edits_are_ordered_and_map_back(restorer):
    r = restorer.restore(SPUN)
    last = 0
    for e in r.edits:
        assert last <= e.start <= e.end <= len(SPUN)
        assert SPUN[e.start : e.end] == e.original
        assert 0.0 <= e.confidence <= 1.0
        last = e.end


def test_threshold_one_applies_nothing(mini_table, model):
    r = Restorer(table=mini_table, model=model, threshold=1.01).restore(SPUN)
    assert r.text == SPUN and r.edits == []
