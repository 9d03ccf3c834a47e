"""The `unspun` command: restore (no broker), produce and tail (embedded broker), worker start-up errors."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from typer.testing import CliRunner

from workers.cli import app

SPUN_TXT = (
    "Port strike ends after staff settle for new contract\n"
    "Dock staff returned to work on Monday after union members voted to accept a contract that raises "
    "wages by 14 p.c. over three years. Union chief Marisol Vega mentioned the deal protected jobs, and the "
    "governor mentioned on Friday it would cost tens of millions of {dollars}.\n"
)


@pytest.fixture
def runner(monkeypatch):
    """A CliRunner whose commands see no UNSPUN_*/KAFKA_BROKER variables but those passed in `env`."""
    import os

    for key in list(os.environ):
        if key.startswith("UNSPUN_") or key == "KAFKA_BROKER":
            monkeypatch.delenv(key)
    return CliRunner()


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_restore_txt_prints_one_valid_event(runner, tmp_path, schema_validator):
    path = tmp_path / "spun.txt"
    path.write_text(SPUN_TXT)
    result = runner.invoke(app, ["restore", str(path)])
    assert result.exit_code == 0, result.output
    [event] = _lines(result.stdout)
    assert not list(schema_validator("enriched.v1").iter_errors(event))
    assert event["title"] == "Port strike ends after staff settle for new contract"
    assert ("{dollars}", "dollars") in {(e["original"], e["restored"]) for e in event["edits"]}
    assert event["restored_text"] != event["text"]
    assert "Marisol Vega" in {m["text"] for m in event["entities"]}


def test_restore_jsonl_and_stdin_give_one_line_per_article(runner, tmp_path, schema_validator):
    path = tmp_path / "two.jsonl"
    path.write_text(
        json.dumps({"id": "a", "text": "The firm mentioned income rose 14 p.c. last year."}) + "\n"
        + json.dumps({"id": "b", "title": "Clean", "text": "The council met on Tuesday."}) + "\n"
    )
    result = runner.invoke(app, ["restore", str(path)])
    assert result.exit_code == 0, result.output
    events = _lines(result.stdout)
    assert [e["id"] for e in events] == ["a", "b"]
    for event in events:
        assert not list(schema_validator("enriched.v1").iter_errors(event))

    result = runner.invoke(app, ["restore", "-"], input=SPUN_TXT)
    assert result.exit_code == 0, result.output
    [event] = _lines(result.stdout)
    assert event["id"].startswith("sha256:")


def test_restore_reports_bad_articles_and_exits_1(runner, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps({"id": "ok", "text": "The council met on Tuesday."}) + "\n" + json.dumps({"id": "empty", "text": "  "}) + "\n")
    result = runner.invoke(app, ["restore", str(path)])
    assert result.exit_code == 1
    assert [e["id"] for e in _lines(result.stdout)] == ["ok"]
    assert "empty: empty_text" in result.stderr


def test_restore_says_where_each_bad_article_is(runner, tmp_path):
    """File and line (JSON lines), file and index (JSON array), file (text): which one to fix."""
    (tmp_path / "bad.jsonl").write_text(
        json.dumps({"id": "ok", "text": "The council met on Tuesday."}) + "\n\n" + json.dumps({"title": "no text"}) + "\n"
    )
    (tmp_path / "list.json").write_text(json.dumps([{"text": "The council met."}, {"id": "blank", "text": " "}]))
    (tmp_path / "blank.txt").write_text("Title only\n  \n")
    result = runner.invoke(app, ["restore", *(str(tmp_path / n) for n in ("bad.jsonl", "list.json", "blank.txt"))])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"unspun: {tmp_path / 'bad.jsonl'}:3 (no id): schema_violation: ")
    assert lines[1] == f"unspun: {tmp_path / 'list.json'}[1] blank: empty_text: text is empty or whitespace only"
    assert lines[2].startswith(f"unspun: {tmp_path / 'blank.txt'} sha256:") and lines[2].endswith(": empty_text: text is empty or whitespace only")


@pytest.mark.parametrize("options", [
    ["--html", "{missing}/page.html"],
    ["--out", "{missing}/out.jsonl"],
    ["--out", "{tmp}/out.jsonl", "--dead-letters", "{missing}/dead.jsonl"],
    ["--html", "{tmp}"],
])
def test_restore_checks_where_it_writes_before_restoring(runner, tmp_path, options):
    """A missing folder used to be found only after every article was restored."""
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "The firm mentioned income rose."}) + "\n")
    args = [o.format(missing=tmp_path / "no-such-dir", tmp=tmp_path) for o in options]
    result = runner.invoke(app, ["restore", str(path), *args])
    assert result.exit_code == 2
    assert result.stdout == "" and not (tmp_path / "out.jsonl").exists()
    [line] = result.stderr.splitlines()
    assert line.startswith(f"unspun: cannot write {args[-2]} {args[-1]}: "), line


def test_demo_checks_its_html_folder_before_starting(runner, tmp_path):
    result = runner.invoke(app, ["demo", "--html", str(tmp_path / "no-such-dir" / "demo.html")])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"unspun: cannot write --html {tmp_path / 'no-such-dir' / 'demo.html'}: {tmp_path / 'no-such-dir'} is not an existing folder"]
    assert "embedded broker" not in result.stdout


def test_a_json_file_read_as_text_is_warned_about(runner, tmp_path):
    """An article file saved as .txt (or .md, or without suffix) is read as text, as before, with
    one warning line suggesting --format json; text that only starts with a bracket is not."""
    article = json.dumps({"id": "a", "text": "The firm mentioned it."})
    (tmp_path / "article.txt").write_text(article + "\n")
    (tmp_path / "articles").write_text(article + "\n" + article + "\n")
    (tmp_path / "wire.md").write_text("[Reuters] The firm mentioned it.\n")
    paths = [str(tmp_path / n) for n in ("article.txt", "articles", "wire.md")]
    result = runner.invoke(app, ["restore", *paths])
    assert result.exit_code == 0, result.output
    assert [e["text"] for e in _lines(result.stdout)][0] == article
    assert result.stderr.splitlines() == [
        f"unspun: warning: {p}: looks like JSON but is read as text (not a .json or .jsonl file): pass --format json to read its articles"
        for p in paths[:2]
    ]
    assert runner.invoke(app, ["restore", "--format", "text", paths[0]]).stderr == ""


def test_restore_missing_file_is_a_clear_error(runner, tmp_path):
    result = runner.invoke(app, ["restore", str(tmp_path / "nope.txt")])
    assert result.exit_code == 2
    assert "nope.txt" in result.stderr


BROKER_RULE = "must be kafka://HOST:PORT or HOST:PORT (several comma-separated), port 1-65535"


def test_a_bad_setting_is_one_clear_line(runner, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(SPUN_TXT)
    result = runner.invoke(app, ["restore", str(path)], env={"UNSPUN_METRICS_PORT": "abc"})
    assert result.exit_code == 2
    assert "UNSPUN_METRICS_PORT" in result.stderr and "Traceback" not in result.output


def test_produce_without_broker_says_how_to_configure(runner, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(SPUN_TXT)
    result = runner.invoke(app, ["produce", str(path)])
    assert result.exit_code == 2
    assert "KAFKA_BROKER" in result.stderr


@pytest.mark.broker
def test_produce_then_tail_round_trip(runner, tmp_path, broker, kit):
    env = kit.stream_env(broker)
    txt = tmp_path / "one.txt"
    txt.write_text(SPUN_TXT)
    jsonl = tmp_path / "two.jsonl"
    jsonl.write_text(json.dumps({"id": "x1", "text": "First."}) + "\n" + json.dumps({"text": "Second, no id."}) + "\n")
    result = runner.invoke(app, ["produce", str(txt), str(jsonl)], env=env)
    assert result.exit_code == 0, result.output
    assert f"sent 3 of 3 articles to {env['UNSPUN_INPUT_TOPIC']}" in result.stdout

    result = runner.invoke(app, ["produce", "-"], env=env, input=json.dumps({"id": "stdin-1", "text": "From stdin."}))
    assert result.exit_code == 0, result.output
    assert "sent 1 of 1 article " in result.stdout

    # A message over the size limit is skipped with a reason; the others still go out.
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps({"id": "big", "text": "word " * 400}) + "\n" + json.dumps({"id": "small", "text": "Fine."}) + "\n")
    result = runner.invoke(app, ["produce", str(big)], env={**env, "UNSPUN_MAX_MESSAGE_BYTES": "1000"})
    assert result.exit_code == 1
    assert "sent 1 of 2 articles" in result.stdout and "skipped big" in result.stderr

    # The input topic was created with the configured partition count; keys are article ids.
    settings = kit.settings_for(env)
    records = kit.consume(settings, [settings.input_topic], expected=5, settle_s=0.5)
    assert len({r.partition for r in records} | {0}) >= 1
    by_key = {r.key.decode(): r.json for r in records}
    assert set(by_key) >= {"x1", "stdin-1", "small"} and "big" not in by_key
    assert all(key == value["id"] for key, value in by_key.items())

    result = runner.invoke(
        app,
        ["tail", "--topic", env["UNSPUN_INPUT_TOPIC"], "--from-beginning", "--max", "5", "--timeout", "10"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    tailed = _lines(result.stdout)
    assert len(tailed) == 5
    assert {t["id"] for t in tailed} == set(by_key)


@pytest.mark.broker
def test_tail_stops_after_idle_timeout(runner, broker, kit):
    env = kit.stream_env(broker)
    started = time.monotonic()
    result = runner.invoke(app, ["tail", "--from-beginning", "--timeout", "1.5"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert time.monotonic() - started < 20


@pytest.mark.broker
def test_worker_fails_fast_when_metrics_port_is_taken(broker, kit):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = kit.stream_env(broker, UNSPUN_METRICS_PORT=str(port))
        started = time.monotonic()
        proc = kit.run_cli(env, "worker", timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"127.0.0.1:{port} is already in use" in proc.stderr
    assert time.monotonic() - started < 15


@pytest.mark.broker
@pytest.mark.slow
def test_demo_runs_offline_and_accounts_for_every_sample(kit):
    import re

    env = {"UNSPUN_METRICS_PORT": "0"}
    proc = kit.run_cli(env, "demo", timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    match = re.search(r"articles in: (\d+), events out: (\d+), dead letters: (\d+), end-to-end latency p50: (\d+) ms, p99: (\d+) ms", proc.stdout)
    assert match, proc.stdout[-3000:]
    n_in, n_events, n_dead = (int(match.group(i)) for i in (1, 2, 3))
    assert n_in == n_events + n_dead and n_events >= 3 and n_dead >= 1
    # the dead letters are explained: they are the samples' deliberately bad messages
    assert f"note the samples include {n_dead} deliberately bad messages" in proc.stdout
    assert "Entities:" in proc.stdout
    # Everything the demo started is gone: the broker port is closed and the worker has exited.
    broker_port = int(re.search(r"embedded broker kafka://127\.0\.0\.1:(\d+)", proc.stdout).group(1))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", broker_port), timeout=1).close()
    worker_pid = int(re.search(r"worker pid (\d+)", proc.stdout).group(1))
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)


@pytest.mark.parametrize("command", [["tail", "--timeout", "2"], ["produce", "-"]])
def test_tail_and_produce_against_a_closed_port_fail_cleanly(kit, command):
    """A clear one-line error, exit 1, and no client left unclosed ("Unclosed AIOKafkaConsumer")."""
    from workers.stream.broker import free_port

    env = {"KAFKA_BROKER": f"kafka://127.0.0.1:{free_port()}"}
    proc = kit.run_cli(env, *command, dev=True, input='{"text": "x"}', timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("KafkaConnectionError") == 1, proc.stderr  # the class is named once, not twice
    assert "Unclosed" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("silent", [False, True])
async def test_ensure_topics_closes_its_admin_client_when_the_broker_cannot_be_reached(monkeypatch, silent):
    """Refused connection, or a port that accepts and never answers (start times out): the admin
    client is closed either way."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    from workers.settings import Settings
    from workers.stream.kafka import ensure_topics

    closed = []
    real_close = AIOKafkaAdminClient.close

    async def spy_close(self):
        closed.append(self)
        await real_close(self)

    monkeypatch.setattr(AIOKafkaAdminClient, "close", spy_close)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        if silent:
            sock.listen()
        port = sock.getsockname()[1]
        settings = Settings(KAFKA_BROKER=f"kafka://127.0.0.1:{port}")
        with pytest.raises((asyncio.TimeoutError, Exception)):
            await ensure_topics(settings, timeout_s=1.0)
    assert len(closed) == 1


def test_every_setting_is_documented_in_the_readme(kit):
    from workers.settings import Settings

    readme = (kit.repo / "README.md").read_text()
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    missing = [
        name for name in Settings.model_fields
        if name != "broker" and f"`UNSPUN_{name.upper()}`" not in table
    ]
    assert not missing, f"settings missing from the README table: {missing}"
    assert "`KAFKA_BROKER`" in table


@pytest.mark.parametrize(
    ("command", "env", "message"),
    [
        (["restore", "-"], {"UNSPUN_BATCH_SIZE": "0"}, "UNSPUN_BATCH_SIZE must be >= 1, got 0"),
        (["worker"], {"UNSPUN_BATCH_SIZE": "0"}, "UNSPUN_BATCH_SIZE must be >= 1, got 0"),
        (["worker"], {"UNSPUN_METRICS_PORT": "99999"}, "UNSPUN_METRICS_PORT must be <= 65535, got 99999"),
        (["worker"], {"UNSPUN_LOG_LEVEL": "LOUD"}, "UNSPUN_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got LOUD"),
        (["restore", "-"], {"UNSPUN_LOG_LEVEL": "LOUD"}, "UNSPUN_LOG_LEVEL must be one of"),
        (["restore", "-"], {"UNSPUN_RESTORE_THRESHOLD": "2"}, "UNSPUN_RESTORE_THRESHOLD must be <= 1, got 2"),
        (["tail"], {"UNSPUN_ARTICLE_TIMEOUT_S": "-1"}, "UNSPUN_ARTICLE_TIMEOUT_S must be >= 0, got -1"),
        (["produce", "-"], {"UNSPUN_PARTITIONS": "0"}, "UNSPUN_PARTITIONS must be >= 1, got 0"),
        (["demo"], {"UNSPUN_HEARTBEAT_INTERVAL_S": "60"}, "UNSPUN_HEARTBEAT_INTERVAL_S (60) must be less than UNSPUN_SESSION_TIMEOUT_S (30)"),
        (["eval"], {"UNSPUN_BATCH_TIMEOUT_S": "nan"}, "UNSPUN_BATCH_TIMEOUT_S must be a finite number, got nan"),
        (["restore", "-"], {"UNSPUN_SPACY_MODEL": "nope_model"},
         "UNSPUN_SPACY_MODEL must name an installed spaCy pipeline package or a pipeline folder, got nope_model"),
        (["produce", "-"], {"KAFKA_BROKER": "kafka://127.0.0.1:notaport"}, f"KAFKA_BROKER {BROKER_RULE}, got kafka://127.0.0.1:notaport"),
        (["worker"], {"KAFKA_BROKER": "kafka://127.0.0.1:99999"}, f"KAFKA_BROKER {BROKER_RULE}, got kafka://127.0.0.1:99999"),
        (["tail"], {"KAFKA_BROKER": "http://127.0.0.1:9092"}, f"KAFKA_BROKER {BROKER_RULE}, got http://127.0.0.1:9092"),
    ],
)
def test_a_bad_setting_stops_every_command_with_one_line_naming_it(kit, command, env, message):
    """Out-of-range values used to crash with a traceback, mislead ("cannot load the models") or pass
    silently (a threshold of 2 restores nothing): now each command refuses them before starting."""
    proc = kit.run_cli({"KAFKA_BROKER": "kafka://127.0.0.1:1", **env}, *command, input="The firm mentioned it.", timeout=60)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"unspun: bad setting: {message}"), line
    assert proc.stdout == ""


@pytest.mark.parametrize("command", [["produce", "-"], ["tail"], ["worker"]])
def test_a_bad_broker_option_is_one_line_naming_it(kit, command):
    proc = kit.run_cli({}, *command, "--broker", "kafka://127.0.0.1:0", input="The firm mentioned it.", timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"unspun: bad option: --broker {BROKER_RULE}, got kafka://127.0.0.1:0"]


@pytest.fixture
def http_port():
    """A real HTTP server (Python's http.server) on a free local port: open, but not Kafka."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("command", [["produce", "-"], ["tail"], ["table", "export"], ["worker"]])
def test_a_broker_address_that_is_not_kafka_is_one_line_naming_it(kit, http_port, command):
    """An open port that serves something else used to hold each command for the Kafka client's
    whole timeout (the worker: ten tries, over three minutes) before a vague error."""
    proc = kit.run_cli({}, *command, "--broker", f"kafka://127.0.0.1:{http_port}", input="The firm mentioned it.", timeout=60)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"unspun: 127.0.0.1:{http_port} did not answer as a Kafka broker ("), line
    assert proc.stdout == ""


def test_the_documented_broker_forms_are_accepted():
    from workers.settings import Settings
    from workers.stream.kafka import bootstrap_servers

    for value, hosts in [
        ("kafka://127.0.0.1:9092", ["127.0.0.1:9092"]),
        ("kafka://a:9092,kafka://b:9093", ["a:9092", "b:9093"]),
        ("a:9092; b:9093", ["a:9092", "b:9093"]),
        ("kafka://[::1]:9092/", ["[::1]:9092"]),
    ]:
        assert bootstrap_servers(Settings(KAFKA_BROKER=value).broker) == hosts


def test_every_numeric_setting_has_a_range():
    """A number without bounds is how UNSPUN_BATCH_SIZE=0 got through: each one declares its range."""
    from annotated_types import Ge, Gt

    from workers.settings import Settings

    unbounded = [
        name for name, info in Settings.model_fields.items()
        if info.annotation in (int, float) and not any(isinstance(m, (Ge, Gt)) for m in info.metadata)
    ]
    assert not unbounded, f"settings without a lower bound: {unbounded}"


def test_help_of_every_command_is_plain(runner):
    """Usage lines read `PATH...` (not `{paths}...`), flags show no `<bool>` value they would
    reject, values are named by their metavar (`PATH`, `--broker URL`), not by a Python type
    (`PATH <list[str]>`, `--broker <str>`), and docstrings show no reStructuredText double backticks."""
    import re

    import typer.main

    def commands(group, path):
        for name in sorted(group.list_commands(None)):
            yield [*path, name]
            sub = group.get_command(None, name)
            if hasattr(sub, "list_commands"):
                yield from commands(sub, [*path, name])

    found = list(commands(typer.main.get_command(app), []))
    assert {("worker",), ("ready",), ("produce",), ("tail",), ("restore",), ("demo",), ("eval",)} <= set(map(tuple, found))
    for args in [["--help"], *([*path, "--help"] for path in found)]:
        result = runner.invoke(app, args, env={"UNSPUN_BATCH_SIZE": "0", "COLUMNS": "100"})
        assert result.exit_code == 0, (args, result.output)  # help works even with a bad setting
        text = result.stdout
        assert text.startswith("Usage: "), text
        assert "{" not in text.splitlines()[0] and "}" not in text.splitlines()[0], text
        assert "<bool>" not in text and "``" not in text, text
        assert not re.search(r"<(list|str|int|float|path|Path)\b", text), text
    usage = runner.invoke(app, ["restore", "--help"]).stdout.splitlines()[0]
    assert usage.endswith(" restore [OPTIONS] PATH..."), usage
    for args, rows in [
        (["produce", "--help"], ["  PATH  Files (.txt, .json, .jsonl) or - for standard input.", "  --broker URL ", "  --topic TOPIC "]),
        (["table", "check", "--help"], ["  PATH  Dictionary files or folders", "  --show N "]),
        (["tail", "--help"], ["  --timeout SECONDS ", "  --max N "]),
    ]:
        text = runner.invoke(app, args, env={"COLUMNS": "100"}).stdout
        assert all(row in text for row in rows), text
    result = runner.invoke(app, ["eval", "--quick=yes"])
    assert result.exit_code == 2 and "does not take a value" in result.output


@pytest.mark.broker
def test_ready_waits_for_a_real_worker_and_gives_up_when_none_is_there(broker, kit, start_worker):
    """`unspun ready` is the bounded wait of README's recipe: it returns 0 once the worker is ready,
    and exits 1 at its timeout (not forever) when no worker answers, e.g. after it exited."""
    worker = start_worker(kit.stream_env(broker))
    proc = kit.run_cli({}, "ready", "--port", str(worker.metrics_port), "--timeout", "150", timeout=180)
    assert proc.returncode == 0, proc.stderr + worker.log()
    assert f"the worker on http://127.0.0.1:{worker.metrics_port} is ready" in proc.stderr
    assert kit.http_get(worker.metrics_port, "/ready")[0] == 200
    assert worker.stop() == 0

    proc = kit.run_cli({"UNSPUN_METRICS_PORT": str(worker.metrics_port)}, "ready", "--timeout", "2", timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"unspun: the worker was not ready within 2 s (nothing answered on http://127.0.0.1:{worker.metrics_port})"
    )


def test_restore_refuses_stdin_that_starts_like_json_but_does_not_parse(runner, tmp_path):
    """`echo '{"text": "..."' | unspun restore -` used to be restored as plain text, braces and all."""
    broken = '{"text": "The firm mentioned income rose 14 p.c. last year."\n'
    result = runner.invoke(app, ["restore", "-"], input=broken)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("unspun: <stdin>: not JSON: unexpected end of data: line "), result.stderr
    assert "--format text" in result.stderr
    result = runner.invoke(app, ["restore", "--format", "text", "-"], input=broken)
    assert result.exit_code == 0, result.output
    [event] = _lines(result.stdout)
    assert event["text"] == broken.strip() and "14 percent" in event["restored_text"]
    result = runner.invoke(app, ["restore", "--format", "text", "--out", str(tmp_path / "events.jsonl"), "-"], input=broken)
    assert result.exit_code == 2 and "--format text or json does not apply" in result.stderr


NOT_UTF8_ADVICE = "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8), unless it is not text at all"


def test_a_latin1_file_is_refused_with_its_line_and_byte(runner, tmp_path):
    lines = [json.dumps({"id": str(n), "text": "The council met."}) for n in range(3)]
    archive = tmp_path / "latin1.jsonl"
    archive.write_bytes("\n".join(lines).encode() + '\n{"id": "4", "text": "Caf\u00e9 owners met."}\n'.encode("latin-1"))
    offset = archive.read_bytes().index(b"\xe9")
    column = offset - archive.read_bytes().rindex(b"\n", 0, offset) - 1
    note = tmp_path / "note.txt"
    note.write_bytes("Caf\u00e9 owners met.\n".encode("latin-1"))
    for path, where in ((archive, f"line 4, byte {column} of the line, {offset} of the file"),
                        (note, "line 1, byte 3 of the line, 3 of the file")):
        result = runner.invoke(app, ["restore", str(path)])
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == f"unspun: {path}: not UTF-8 ({where}): {NOT_UTF8_ADVICE}\n"


def test_restore_reads_json_with_a_byte_order_mark_and_names_bad_files_plainly(runner, tmp_path):
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "bom", "text": "The firm mentioned it."}).encode())
    result = runner.invoke(app, ["restore", str(bom)])
    assert result.exit_code == 0, result.output
    assert [e["id"] for e in _lines(result.stdout)] == ["bom"]

    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xd8")
    result = runner.invoke(app, ["restore", str(binary)])
    assert result.exit_code == 2
    assert result.stderr == f"unspun: {binary}: not UTF-8 (line 1, byte 0 of the line, 0 of the file): {NOT_UTF8_ADVICE}\n"

    for name in ("empty.txt", "empty.json", "empty.jsonl"):
        (tmp_path / name).write_text("\n")
        result = runner.invoke(app, ["restore", str(tmp_path / name)])
        assert (result.exit_code, result.stderr) == (2, f"unspun: {tmp_path / name}: empty, no articles\n")


@pytest.mark.parametrize("command", [["produce", "-"], ["tail", "--timeout", "2"]])
def test_an_unreachable_broker_is_one_line(kit, command):
    # the Kafka client logs its own connection errors; the command's one line says it all
    proc = kit.run_cli({}, *command, "--broker", "kafka://127.0.0.1:1", input="The firm mentioned it.", timeout=60)
    assert proc.returncode == 1, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("unspun: could not ") and "KafkaConnectionError" in line, line
    assert line.endswith("(no Kafka broker answers at 127.0.0.1:1; check --broker or KAFKA_BROKER)"), line
