"""`unspun restore ARCHIVE.jsonl --out OUT`: the backfill of an archive without a broker, through the real
command (child processes, forked workers, signals, a pseudo-terminal)."""

from __future__ import annotations

import base64
import json
import os
import pty
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PEOPLE = ["Marisol Vega", "Daniel Okoro", "Helen Brandt", "Priya Raman", "Victor Mensah"]
PLACES = ["Calder Bay", "Fenwick", "Ashford", "Riverside", "Westbrook"]


def _article(i: int) -> dict:
    person, place = PEOPLE[i % len(PEOPLE)], PLACES[(i // 5) % len(PLACES)]
    text = (
        f"{person} mentioned on Friday that the council in {place} would spend {i + 3} million {{dollars}} "
        f"on the harbour. The corporate mentioned 1000's of jobs would be lower this yr, officers mentioned. "
        f"Residents of {place} have been told the work starts in article {i}."
    )
    return {"id": f"art-{i}", "title": f"{place} council backs harbour plan", "text": text}


BAD_LINES = [
    b"this line is not JSON",
    b"[1, 2, 3]",
    b'{"id": "no-text", "title": "a title alone"}',
    b'{"id": "empty", "text": "   "}',
    b'{"id": "bad-utf8", "text": "caf\xe9 au lait"}',
]


def _archive(path: Path, n_good: int, bad_every: int = 0) -> tuple[int, int]:
    """Write ``n_good`` articles (and a bad line after every ``bad_every``-th, plus blank lines, which
    need no answer) to ``path``; returns (good lines, bad lines)."""
    lines, n_bad = [], 0
    for i in range(n_good):
        lines.append(json.dumps(_article(i)).encode())
        if bad_every and i % bad_every == bad_every - 1:
            lines.append(BAD_LINES[n_bad % len(BAD_LINES)])
            n_bad += 1
        if i == 2:
            lines.append(b"   ")
    path.write_bytes(b"\n".join(lines) + b"\n")
    return n_good, n_bad


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "workers.cli", "restore", *args]


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def _started(src: Path, out: Path, env: dict[str, str], lines: int = 20) -> subprocess.Popen:
    """The backfill of ``src`` into ``out`` on two jobs, in a session of its own, once ``lines`` events are written."""
    proc = subprocess.Popen(_cmd(str(src), "--out", str(out), "--jobs", "2"), env=env, cwd=str(REPO),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= lines:
            break
        time.sleep(0.02)
    return proc


def test_every_line_gets_one_output_across_two_jobs(tmp_path, kit, schema_validator):
    src, out, dead = tmp_path / "archive.jsonl", tmp_path / "enriched.jsonl", tmp_path / "dead.jsonl"
    n_good, n_bad = _archive(src, 40, bad_every=8)
    result = subprocess.run(
        _cmd(str(src), "--out", str(out), "--dead-letters", str(dead), "--jobs", "2"),
        env=kit.subprocess_env({"UNSPUN_BATCH_SIZE": "4"}), cwd=str(REPO), capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    events, dead_letters = _read(out), _read(dead)
    # Events come in input order, one per good line; each dead letter points at its input line.
    assert [e["id"] for e in events] == [f"art-{i}" for i in range(n_good)]
    for event in events:
        schema_validator("enriched.v1").validate(event)
    assert any(e["restored_text"] != e["text"] for e in events)
    assert len(dead_letters) == n_bad
    src_lines = src.read_bytes().split(b"\n")
    for event in events:
        assert event["input"]["topic"] == str(src)
        assert json.loads(src_lines[event["input"]["offset"] - 1])["id"] == event["id"]
    for record in dead_letters:
        schema_validator("deadletter.v1").validate(record)
        assert record["topic"] == str(src) and record["partition"] == 0
        payload = record["payload"]
        raw = base64.b64decode(payload) if record["payload_encoding"] == "base64" else payload.encode()
        assert raw == src_lines[record["offset"] - 1]  # the line byte for byte, invalid UTF-8 included
    assert Counter(r["kind"] for r in dead_letters) == Counter(
        {"not_json": 1, "not_object": 1, "schema_violation": 1, "empty_text": 1, "invalid_utf8": 1}
    )
    assert [r["offset"] for r in dead_letters] == sorted(r["offset"] for r in dead_letters)
    summary = result.stderr.strip().splitlines()[-1]
    assert f"articles: {n_good + n_bad}, events: {n_good}, dead letters: {n_bad}," in summary
    assert "articles/s:" in summary
    assert "\x1b[" not in result.stderr and "ETA" not in result.stderr  # no progress bar: not a terminal


@pytest.mark.parametrize("how", ["SIGTERM to the command", "SIGINT to its process group (Ctrl-C)"])
def test_interrupted_run_resumes_without_duplicates_or_loss(tmp_path, kit, how):
    src, out = tmp_path / "archive.jsonl", tmp_path / "enriched.jsonl"
    dead = tmp_path / "enriched.dead-letters.jsonl"  # the default next to --out
    n_good, n_bad = _archive(src, 200, bad_every=25)
    with open(src, "ab") as f:  # a second copy of the first article, same id: a line of its own
        f.write(json.dumps(_article(0)).encode() + b"\n")
    n_lines = n_good + n_bad + 1
    env = kit.subprocess_env({"UNSPUN_BATCH_SIZE": "4"})
    sig = signal.SIGTERM if how.startswith("SIGTERM") else signal.SIGINT
    proc = _started(src, out, env)
    try:
        if sig == signal.SIGTERM:
            proc.send_signal(sig)
        else:  # as a terminal does: the command and its worker processes all get it
            os.killpg(proc.pid, sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, stderr
    assert f"interrupted by {sig.name}" in stderr
    first = _read(out)
    assert 20 <= len(first) < n_good
    assert [e["id"] for e in first] == [f"art-{i}" for i in range(len(first))]
    # A write cut short (as by a kill) leaves half a line: resume drops it and redoes that article.
    with open(out, "ab") as f:
        f.write(b'{"schema": "unspun.enriched.v1", "id": "art-3')

    result = subprocess.run(_cmd(str(src), "--out", str(out), "--resume"), env=env, cwd=str(REPO),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    events, dead_letters = _read(out), _read(dead)
    # none twice, none lost, in input order (the copy of art-0 included)
    assert [e["id"] for e in events] == [f"art-{i}" for i in range(n_good)] + ["art-0"]
    assert len(dead_letters) == n_bad
    answered = [e["input"]["offset"] for e in events] + [r["offset"] for r in dead_letters]
    non_blank = [n for n, line in enumerate(src.read_bytes().split(b"\n"), 1) if line.strip()]
    assert sorted(answered) == non_blank
    summary = result.stderr.strip().splitlines()[-1]
    done_before = int(summary.split("skipped (done before): ")[1].split(",")[0].split(";")[0])
    answered_now = int(summary.split("articles: ")[1].split(",")[0])
    assert done_before + answered_now == n_lines


def test_a_second_signal_stops_at_once_and_the_run_resumes(tmp_path, kit):
    # two signals together (as from a second Ctrl-C): the batches in flight are dropped, not half-written
    src, out = tmp_path / "archive.jsonl", tmp_path / "enriched.jsonl"
    n_good, _ = _archive(src, 200)
    env = kit.subprocess_env({"UNSPUN_BATCH_SIZE": "4"})
    proc = _started(src, out, env)
    try:
        proc.send_signal(signal.SIGTERM)  # two different signals: a second one of the same kind could merge
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (128 + signal.SIGTERM, 128 + signal.SIGINT), stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith("unspun: stopped at once by a second SIG") and line.endswith("run again with --resume"), line
    first = _read(out)
    assert [e["id"] for e in first] == [f"art-{i}" for i in range(len(first))]
    result = subprocess.run(_cmd(str(src), "--out", str(out), "--resume"), env=env, cwd=str(REPO),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [e["id"] for e in _read(out)] == [f"art-{i}" for i in range(n_good)]


def test_a_missing_archive_is_one_line(tmp_path, kit):
    missing, out = tmp_path / "nope.jsonl", tmp_path / "enriched.jsonl"
    result = kit.run_cli({}, "restore", str(missing), "--out", str(out), timeout=60)
    assert (result.returncode, result.stderr) == (2, f"unspun: {missing}: cannot read: No such file or directory\n")


def test_an_article_that_never_finishes_becomes_a_timeout_dead_letter(tmp_path, kit, schema_validator):
    src, out, dead = tmp_path / "archive.jsonl", tmp_path / "enriched.jsonl", tmp_path / "dead.jsonl"
    _archive(src, 16)
    lines = src.read_bytes().splitlines()
    slow = _article(5)
    slow["text"] += " STALL-ON-THIS-ONE"
    lines[lines.index(json.dumps(_article(5)).encode())] = json.dumps(slow).encode()
    src.write_bytes(b"\n".join(lines) + b"\n")
    env = kit.subprocess_env({"UNSPUN_BATCH_SIZE": "4", "UNSPUN_ARTICLE_TIMEOUT_S": "1",
                              "UNSPUN_TEST_SLOW_MARKER": "STALL-ON-THIS-ONE"})
    result = subprocess.run(_cmd(str(src), "--out", str(out), "--dead-letters", str(dead), "--jobs", "2"),
                            env=env, cwd=str(REPO), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert [e["id"] for e in _read(out)] == [f"art-{i}" for i in range(16) if i != 5]
    [record] = _read(dead)
    schema_validator("deadletter.v1").validate(record)
    assert record["kind"] == "timeout" and "UNSPUN_ARTICLE_TIMEOUT_S" in record["reason"]
    assert json.loads(record["payload"])["id"] == "art-5"


def test_existing_output_needs_resume(tmp_path, kit):
    src, out = tmp_path / "archive.jsonl", tmp_path / "enriched.jsonl"
    _archive(src, 1)
    out.write_text('{"id": "x"}\n')
    result = kit.run_cli({}, "restore", str(src), "--out", str(out), timeout=60)
    assert result.returncode == 2
    assert "exists: pass --resume" in result.stderr
    assert out.read_text() == '{"id": "x"}\n'


def test_an_archive_without_articles_is_an_error(tmp_path, kit):
    # as without --out: an input with nothing but blank lines is refused, and no empty outputs are left
    src, out = tmp_path / "blank.jsonl", tmp_path / "enriched.jsonl"
    src.write_text("\n  \n\n")
    result = kit.run_cli({}, "restore", str(src), "--out", str(out), timeout=60)
    assert result.returncode == 2 and "blank.jsonl: empty, no articles" in result.stderr
    assert not out.exists() and not (tmp_path / "enriched.dead-letters.jsonl").exists()


def test_a_json_file_is_refused_rather_than_read_as_lines(tmp_path, kit):
    src, out = tmp_path / "pretty.json", tmp_path / "enriched.jsonl"
    src.write_text(json.dumps([{"id": "a", "text": "The corporate mentioned it."}], indent=2))
    result = kit.run_cli({}, "restore", str(src), "--out", str(out), timeout=60)
    assert result.returncode == 2 and "--out reads JSON lines" in result.stderr
    assert not out.exists()


def _run_in_pty(args: list[str], env: dict[str, str], timeout_s: float = 120) -> tuple[int, bytes]:
    """Run ``args`` with standard error (and output) on a pseudo-terminal; returns (exit code, what it drew)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, env=env, cwd=str(REPO), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        return proc.wait(timeout=30), screen
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_progress_bar_on_a_terminal_only(tmp_path, kit):
    src = tmp_path / "archive.jsonl"
    _archive(src, 24, bad_every=6)
    env = kit.subprocess_env({"UNSPUN_BATCH_SIZE": "4", "TERM": "xterm", "COLUMNS": "160"})
    code, screen = _run_in_pty(_cmd(str(src), "--out", str(tmp_path / "tty.jsonl"), "--jobs", "1"), env)
    text = screen.decode("utf-8", "replace")
    assert code == 0, text
    assert "articles/s" in text and "dead letters" in text and "ETA" in text
    assert "━" in text  # the bar itself
    assert "unspun: articles: 28, events: 24, dead letters: 4," in text
    # (with standard error on a pipe there is no bar: see test_every_line_gets_one_output_across_two_jobs)
