"""Spinner families: attribution of an article to the family whose evidence is strongest, restoration
with that family, and families replaced at run time (learned substitutions)."""

from pathlib import Path

import pytest

from workers.restoration.edits import apply_edits
from workers.restoration.families import Family
from workers.restoration.restorer import Restorer
from workers.restoration.table import Entry, load_table

OTHER = Path(__file__).parent / "data" / "other_family"

MINI_SPUN = "The corporate mentioned 1000's of jobs would go this yr, and the corporate mentioned it again."
OTHER_SPUN = "The enterprise proclaimed multitudes of jobs would go this twelvemonth, and the enterprise proclaimed it again."
ORIGINAL = "The company said thousands of jobs would go this year, and the company said it again."
CLEAN = "The committee said on Tuesday that it would hold a hearing next week on the budget request."


@pytest.fixture(scope="module")
def two_families(mini_table, model):
    other = Family("other", load_table(OTHER, use_cache=False))
    return Restorer(families=[Family("news", mini_table), other], model=model)


@pytest.mark.parametrize("spun, family", [(MINI_SPUN, "news"), (OTHER_SPUN, "other")])
def test_article_is_attributed_to_the_family_that_spun_it(two_families, spun, family):
    r = two_families.restore(spun)
    assert r.family == family
    assert r.family_confidence > 0.5
    assert r.text == ORIGINAL
    assert apply_edits(spun, r.edits) == r.text


def test_clean_article_belongs_to_no_family(two_families):
    r = two_families.restore(CLEAN)
    assert r.family is None and r.edits == []


def test_a_family_the_article_shows_no_sign_of_lends_no_candidates(mini_table, model):
    # "lower" is a substitute in the mini table (cut -> lower); a second family that maps it elsewhere
    # must not turn it into its own original in an article spun by the first family
    odd = Family("odd", load_table(OTHER, use_cache=False))
    r = Restorer(families=[Family("news", mini_table), odd], model=model).restore(MINI_SPUN)
    assert "enterprise" not in r.text and "proclaim" not in r.text


def test_update_family_brings_new_substitutions_in_without_a_new_restorer(mini_table, model):
    r = Restorer(families=[Family("news", mini_table)], model=model)
    spun = "The zorbulation mentioned 1000's of jobs would go this yr, the zorbulation mentioned."
    assert "company" not in r.restore(spun).text
    r.update_family("learned", [Entry("company", ("zorbulation",), "NOUN", "word")])
    out = r.restore(spun)
    assert "The company said thousands of jobs" in out.text
    assert [f.name for f in r.families] == ["news", "learned"]
    r.update_family("learned", [])
    assert "zorbulation" in r.restore(spun).text


def test_repeated_forms_of_different_lengths_give_non_overlapping_edits(restorer):
    # "mentioned" is restored confidently; its other occurrences sit inside longer table forms too
    text = ("The corporate mentioned 1000's of jobs. Officials mentioned that. The corporate mentioned "
            "it again, and the corporate mentioned 1000's of jobs this yr.")
    r = restorer.restore(text)
    assert apply_edits(text, r.edits) == r.text
    assert all(a.end <= b.start for a, b in zip(r.edits, r.edits[1:]))


CITY = ("The city council met on Tuesday evening to discuss the new budget for the coming year. Members of the "
        "council debated the plan for more than three hours before the vote. The mayor told reporters after the "
        "meeting that the budget would fund road repairs, two new schools and a larger police force. ")


def test_an_article_attributed_to_no_family_keeps_only_its_near_certain_edits():
    from workers.restoration.restorer import FAMILY_MIN, UNATTRIBUTED_MIN, UNATTRIBUTED_THRESHOLD, default_restorer

    restorer = default_restorer()
    # one strong signature in a short text: not enough to name the spinner, enough for the edit it makes sure of
    sure = restorer.restore("Residents sent 1000's of letters to the council about the plan for new schools and roads.")
    assert sure.family is None and UNATTRIBUTED_MIN <= sure.spin_score < FAMILY_MIN
    assert [(e.original, e.restored) for e in sure.edits] == [("1000's", "thousands")]
    assert min(e.confidence for e in sure.edits) >= UNATTRIBUTED_THRESHOLD
    # the same form with less certainty stays as it is, though it clears the threshold of an attributed article
    unsure = restorer.restore(CITY + "The plan drew 1000's of comments from residents, who got here early to speak.")
    assert unsure.family is None and unsure.edits == []
    assert any(e.restored == "thousands" and restorer.threshold <= e.confidence < UNATTRIBUTED_THRESHOLD
               for e in unsure.rejected)


def test_an_article_no_family_is_likely_to_have_spun_is_not_decoded():
    from workers.restoration.restorer import UNATTRIBUTED_MIN, default_restorer

    r = default_restorer().restore(CITY)
    assert r.spin_score < UNATTRIBUTED_MIN and r.n_candidates == 0 and r.edits == []


def test_shipped_families_reuse_loaded_tables_and_follow_cache_folder_and_imports(tmp_path):
    from workers.restoration.families import shipped_families

    first, again = shipped_families(), shipped_families()
    assert [f.name for f in first] == [f.name for f in again] == ["news", "wordnet"]
    assert all(a.table is b.table for a, b in zip(first, again))  # loaded once in this process
    groups = tmp_path / "mine.txt"
    groups.write_text("company|zorbulation\n", encoding="utf-8")
    cache = tmp_path / "cache"
    fams = shipped_families([groups], cache_dir=cache)
    assert [f.name for f in fams] == ["news", "wordnet", "import:mine"]
    wordnet = first[1].table.version
    assert fams[1].table.version == wordnet and (cache / f"table-{wordnet}.pkl").is_file()  # its own cache folder
    assert ("zorbulation",) in fams[2].table.reverse
    groups.write_text("company|blorpage\n", encoding="utf-8")  # an edited import is read again
    rev = shipped_families([groups], cache_dir=cache)[2].table.reverse
    assert ("blorpage",) in rev and ("zorbulation",) not in rev
