"""`unspun eval` without the shared corpora: the bundled set, every row, the results file."""

import json
import re

import pytest

from workers.evaluation.groups import MYTHES
from workers.evaluation.restoration import ROWS
from workers.restoration.build.wordnet import WORDNET_DIR

pytestmark = pytest.mark.skipif(
    not (MYTHES.exists() and (WORDNET_DIR / "data.noun").exists()),
    reason="Debian mythes-en-us and wordnet-base are needed for the unseen rows (make setup-test)",
)


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory, kit):
    out = tmp_path_factory.mktemp("eval")
    proc = kit.run_cli({}, "eval", "--quick", "--shared", str(out / "nonexistent"), "--out", str(out), timeout=300)
    return proc, out


def test_eval_runs_every_row_on_the_bundled_set_when_corpora_are_absent(eval_run):
    proc, out = eval_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "bundled set" in proc.stderr
    res = json.loads((out / "restoration.json").read_text(), parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert res["data"] == "bundled" and res["skipped"] == {}
    assert list(res["rows"]) == [r.key for r in ROWS]
    unseen = [k for k, r in res["rows"].items() if r["unseen"]]
    assert unseen == ["thesaurus", "wordnet", "pps"]  # the headline rows come first
    for key, r in res["rows"].items():
        assert r["label"] in proc.stdout
        assert r["spun_words"] > 100 and r["documents"] == 30, key
        for m in ("word_recall", "exact_restoration", "false_edits_per_1k_words", "words_per_s"):
            assert r[m] is not None and r[m] >= 0, (key, m)
        # precision is undefined for a restorer that made no edit (the unseen rows may leave all alone)
        assert (r["edit_precision"] is None) == (r["edits"] == 0), key
        if r["edits"] == 0:  # and the printed table says why rather than "nan"
            [line] = [l for l in proc.stdout.splitlines() if r["label"] in l]
            assert "n/a (0 edits)" in line, line
    assert not re.search(r"\bnan\b", proc.stdout)
    # the restorer holds the table and the loaded dictionary: it restores most of what those spun
    for key in ("known", "dictionary_loaded"):
        assert res["rows"][key]["word_recall"] > 0.6 and res["rows"][key]["edit_precision"] > 0.8, key
    assert res["rows"]["known_withheld_30pct"]["word_recall"] < res["rows"]["known"]["word_recall"]
    assert res["rows"]["pps"]["clean_words"] > 0 and res["documents"]["senate"] == 30
    assert (out / "restoration_threshold.png").stat().st_size > 0


def test_eval_rejects_an_unknown_row(kit, tmp_path):
    proc = kit.run_cli({}, "eval", "--rows", "thesaurus,nonsense", "--shared", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "nonsense" in proc.stderr
