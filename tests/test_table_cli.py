"""Spinner dictionaries through the real command: `unspun table check`, and UNSPUN_EXTRA_TABLES at start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GROUPS = Path(__file__).parent / "restoration" / "data" / "dictionaries" / "groups.txt"
BAD_LINES = "alpha\nbeta|gamma\ndelta\n"


def test_table_check_reports_what_a_group_file_yields(kit, tmp_path):
    proc = kit.run_cli({"UNSPUN_CACHE_DIR": str(tmp_path)}, "table", "check", str(GROUPS), timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "format: groups, encoding: utf-8-sig, lines: 15" in out
    assert "groups: 10, entries: 9 (9 word, 0 phrase heads)" in out
    assert "multiword items: 1" in out
    assert "part of speech: VERB 1, NOUN 2, ADJ 2, X 4" in out
    assert "skipped lines: 2 (1 malformed, 1 duplicate)" in out
    assert "groups.txt:9: duplicate of line 4" in out and "groups.txt:15: not a groups line: 'lonely'" in out


def test_table_check_of_a_folder_names_each_unusable_file_and_line(kit, tmp_path):
    folder = tmp_path / "dictionaries"
    folder.mkdir()
    (folder / "a-good.txt").write_text("table|desk\n", encoding="utf-8")
    (folder / "b-bad.txt").write_text(BAD_LINES, encoding="utf-8")
    (folder / "c-empty.txt").write_text("# nothing yet\n", encoding="utf-8")
    proc = kit.run_cli({"UNSPUN_CACHE_DIR": str(tmp_path / "cache")}, "table", "check", str(folder), timeout=60)
    assert proc.returncode == 2
    assert f"{folder / 'a-good.txt'}: usable" in proc.stdout
    assert proc.stderr.splitlines() == [
        f"unspun: {folder / 'b-bad.txt'}:1: 2 of 3 lines are malformed (more than 50%) for format groups; first: not a groups line: 'alpha'",
        f"unspun: {folder / 'c-empty.txt'}: no entries: the file is empty or holds only comments",
    ]


@pytest.mark.parametrize("command", [["restore", "-"], ["worker"], ["demo"]])
def test_a_bad_extra_dictionary_stops_start_up(kit, tmp_path, command):
    bad = tmp_path / "bad.txt"
    bad.write_text(BAD_LINES, encoding="utf-8")
    env = {"UNSPUN_EXTRA_TABLES": str(bad), "UNSPUN_CACHE_DIR": str(tmp_path / "cache"), "UNSPUN_METRICS_PORT": "0"}
    proc = kit.run_cli(env, *command, input="The firm mentioned it.", timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip() == f"unspun: UNSPUN_EXTRA_TABLES: {bad}:1: 2 of 3 lines are malformed (more than 50%) for format groups; first: not a groups line: 'alpha'"
    assert proc.stdout == ""


def test_a_group_file_in_extra_tables_restores_what_it_spun(kit, tmp_path):
    # "zorbulation" is a made-up word: only the group "inquiry|zorbulation" can explain the restoration.
    text = "The corporate mentioned 1000's of jobs were cut after a zorbulation into its accounts, officers mentioned."
    env = {"UNSPUN_EXTRA_TABLES": str(GROUPS), "UNSPUN_CACHE_DIR": str(tmp_path / "cache")}
    proc = kit.run_cli(env, "restore", "-", input=text, timeout=180)
    assert proc.returncode == 0, proc.stderr
    event = json.loads(proc.stdout)
    assert "inquiry into its accounts" in event["restored_text"] and "zorbulation" not in event["restored_text"]
    assert ("zorbulation", "inquiry") in {(e["original"], e["restored"]) for e in event["edits"]}
    assert list((tmp_path / "cache").glob("dictionary-*.pkl"))
