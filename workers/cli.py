"""The ``unspun`` command: worker, ready, produce, tail, restore, demo, eval, table.

Settings come from the environment (``UNSPUN_*``, ``KAFKA_BROKER``) through
:class:`workers.settings.Settings`; a few options override them for one run.
Exit codes: 0 success, 1 some input failed or a check did not pass, 2 usage or setup error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import orjson
import typer
import typer.core

from workers.settings import Settings

class _Command(typer.core.TyperCommand):
    """A command whose usage line names required arguments plainly (``PATH...``, not ``{PATH}...``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [re.sub(r"^\{([^{}]*)\}", r"\1", piece) for piece in super().collect_usage_pieces(ctx)]


class _Argument(typer.core.TyperArgument):
    """An argument whose help row shows its metavar alone (``PATH``, not ``PATH <list[str]>``), as
    typer shows an option's metavar in place of its type."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None if self.metavar is not None else super().display_type_rich(ctx)


class _Commands(typer.core.TyperGroup):
    """The command group: every command checks the settings first, so a bad variable ends any of
    them the same way (one line, exit code 2) before it starts anything; ``--help`` still works."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if not ctx.resilient_parsing and not {"--help", "-h"} & set(rest):
            _settings()
        return name, command, rest

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        # Every command, also ones added later and those of sub-groups, gets the plain usage line
        # and plain argument names in its help.
        if type(command) is typer.core.TyperCommand:
            command.__class__ = _Command
            for param in command.params:
                if type(param) is typer.core.TyperArgument:
                    param.__class__ = _Argument
        elif type(command) is typer.core.TyperGroup:
            command.__class__ = _Commands
        return command


app = typer.Typer(
    cls=_Commands,
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Restore spun news articles, extract entities, and stream enriched events through Kafka.",
)

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment with the given non-None fields replaced.

    A variable that does not parse or is out of range ends the command with one line naming it
    (exit code 2).
    """
    from workers.settings import SettingsError, load_settings  # noqa: PLC0415

    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise _fail(f"bad setting: {exc}") from None


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"unspun: {message}", err=True)
    return typer.Exit(code)


def _check_dictionaries(settings: Settings, *, load: bool = False) -> None:
    """Stop with exit code 2 and one line naming file and line when a dictionary listed in
    UNSPUN_EXTRA_TABLES is unusable. Usable ones are compiled into the cache; with ``load`` also
    kept in this process, for a command that restores here (``restore``), else compiled in a
    child process so that a long-lived parent (``worker``) does not carry the compile's memory."""
    if not settings.extra_tables:
        return
    from workers.restoration.dictionaries import DictionaryError, check_dictionary, compile_dictionary, dictionary_files  # noqa: PLC0415
    from workers.restoration.table import split_paths  # noqa: PLC0415

    check = compile_dictionary if load else check_dictionary
    try:
        for path in dictionary_files(split_paths(settings.extra_tables)):
            check(path, settings.cache_dir or None)
    except DictionaryError as exc:
        raise _fail(f"UNSPUN_EXTRA_TABLES: {exc}") from None


def _need_broker(settings: Settings) -> None:
    """Stop with one line when no broker is configured or it does not answer as Kafka (see
    :func:`_check_answers_as_kafka`). The command reports a broker it cannot reach in one line of
    its own, so the Kafka client's log lines about it are not printed as well."""
    if not settings.broker:
        raise _fail(
            "no Kafka broker configured: set KAFKA_BROKER (for example kafka://127.0.0.1:9092). "
            "The embedded broker keeps messages in memory only, so it is started by "
            "`unspun worker` and `unspun demo`, not by this command."
        )
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    _check_answers_as_kafka(settings)


def _check_answers_as_kafka(settings: Settings) -> None:
    """Stop with one line (exit code 2) when a broker address is open but serves something else
    than Kafka, which the Kafka client would only report after its whole timeout."""
    from workers.stream.kafka import NotKafkaBroker, check_answers_as_kafka  # noqa: PLC0415

    try:
        asyncio.run(check_answers_as_kafka(settings))
    except NotKafkaBroker as exc:
        raise _fail(str(exc)) from None


def _check_broker_option(value: Optional[str]) -> Optional[str]:
    """``--broker`` is checked like KAFKA_BROKER, and a bad one named the same way (one line, exit 2)."""
    from workers.settings import broker_hosts  # noqa: PLC0415

    if value is not None:
        try:
            broker_hosts(value)
        except ValueError as exc:
            raise _fail(f"bad option: --broker {exc}, got {value}") from None
    return value


BROKER_OPTION = typer.Option(
    None, callback=_check_broker_option, metavar="URL", help="Kafka broker, kafka://HOST:PORT (several comma-separated); overrides KAFKA_BROKER."
)


# --------------------------------------------------------------------------------------- worker


@app.command()
def worker(
    broker: Optional[str] = BROKER_OPTION,
    metrics_port: Optional[int] = typer.Option(
        None, min=0, max=65535, metavar="PORT", help="Port of /metrics, /health, /ready; overrides UNSPUN_METRICS_PORT."
    ),
) -> None:
    """Run the stream worker until SIGINT/SIGTERM.

    With no broker configured (KAFKA_BROKER unset) it starts the embedded broker first, on
    UNSPUN_EMBEDDED_BROKER_PORT (0: a free port), and stops it on exit.
    """
    from workers.stream.app import BrokerUnavailable, MetricsPortInUse, OutputsNotSent, run_worker  # noqa: PLC0415
    from workers.stream.broker import BrokerError, EmbeddedBroker  # noqa: PLC0415

    settings = _settings(broker=broker, metrics_port=metrics_port)
    _check_dictionaries(settings)
    embedded: EmbeddedBroker | None = None
    states: list[Any] = []  # the worker's state, for the lag at exit
    try:
        if not settings.broker:
            try:
                embedded = EmbeddedBroker(port=settings.embedded_broker_port).start()
            except BrokerError as exc:
                raise _fail(str(exc)) from None
            typer.echo(f"unspun: started the embedded broker at {embedded.url} (memory only)", err=True)
            settings = settings.model_copy(update={"broker": embedded.url, **_embedded_group_timing(settings)})
        else:
            _check_answers_as_kafka(settings)
        try:
            run_worker(settings, on_exit=states.append)
        except (MetricsPortInUse, BrokerUnavailable) as exc:
            raise _fail(str(exc)) from None
        except OutputsNotSent as exc:
            raise _fail(str(exc), 1) from None
        except ValueError as exc:
            raise _fail(str(exc)) from None
        except KeyboardInterrupt:  # before the worker handles signals itself (waiting for the broker)
            raise _fail("interrupted during start-up", 130) from None
    finally:
        if embedded is not None:
            embedded.stop()
            left = states[0].unprocessed() if states else None
            if left is None:
                gone = "whatever was not processed yet is gone"
            elif left:
                gone = f"{left} messages of {settings.input_topic} were not processed yet (lag at exit) and are gone"
            else:
                gone = "every message it held was processed"
            typer.echo(f"unspun: stopped the embedded broker, which keeps messages in memory only: {gone}", err=True)


#: Consumer group session timeout on the embedded broker, seconds: it answers a group join only
#: after half the session timeout (15 s with the default 30 s), which held up /ready.
EMBEDDED_SESSION_TIMEOUT_S = 8.0


def _embedded_group_timing(settings: Settings) -> dict[str, float]:
    """Session timeout and heartbeat for the embedded broker, unless the user set them."""
    if "session_timeout_s" in settings.model_fields_set:
        return {}
    heartbeat = min(settings.heartbeat_interval_s, EMBEDDED_SESSION_TIMEOUT_S / 4)
    return {"session_timeout_s": EMBEDDED_SESSION_TIMEOUT_S, "heartbeat_interval_s": heartbeat}


@app.command()
def ready(
    timeout: float = typer.Option(60.0, min=0, metavar="SECONDS", help="Give up after this many seconds."),
    port: Optional[int] = typer.Option(None, min=1, max=65535, metavar="PORT", help="Metrics port of the worker; default UNSPUN_METRICS_PORT."),
) -> None:
    """Wait until a worker is ready: exit 0 once its /ready answers 200, 1 if it does not within --timeout.

    Polls UNSPUN_METRICS_HOST (127.0.0.1 when it is a wildcard address) every quarter second, so a
    script can wait for a worker started in the background and stop waiting when it died.
    """
    settings = _settings()
    port = port or settings.metrics_port
    if not port:
        raise _fail("UNSPUN_METRICS_PORT is 0 (a free port picked by the worker): pass --port")
    host = settings.metrics_host if settings.metrics_host not in ("", "0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    started = time.monotonic()
    try:
        _wait_ready(port, timeout, host=host)
    except RuntimeError as exc:
        raise _fail(str(exc), 1) from None
    typer.echo(f"unspun: the worker on http://{host}:{port} is ready ({time.monotonic() - started:.1f} s)", err=True)


# -------------------------------------------------------------------------------------- produce


class InputFormat(str, Enum):
    """How ``produce`` and ``restore`` read their inputs (see ``workers.inputs``)."""

    auto = "auto"
    text = "text"
    json = "json"
    jsonl = "jsonl"


FORMAT_OPTION = typer.Option(
    InputFormat.auto, "--format",
    help="auto: by suffix, and standard input by its content (JSON when it starts like JSON); or read every input as text, json or jsonl.",
)


def _read_or_fail(paths: Sequence[str], fmt: InputFormat = InputFormat.auto) -> list[tuple[str, dict[str, Any]]]:
    """``(where, article)`` pairs of ``workers.inputs.read_located``; an unreadable input ends the command (exit 2)."""
    from workers.inputs import InputError, read_located  # noqa: PLC0415

    try:
        return list(read_located(list(paths), fmt.value, warn=lambda message: typer.echo(f"unspun: warning: {message}", err=True)))
    except InputError as exc:
        raise _fail(str(exc)) from None


def _article_messages(articles: Iterable[dict[str, Any]]) -> list[tuple[bytes | None, bytes]]:
    """Articles -> ``(key, value)`` pairs: key = article id (UTF-8) when present, value = JSON (an integer
    beyond 64 bits as its exact decimal string, as the worker would keep it in ``meta``)."""
    from workers.articles import exact_integers  # noqa: PLC0415

    out = []
    for article in articles:
        article_id = article.get("id")
        key = str(article_id).encode("utf-8") if article_id is not None else None
        out.append((key, orjson.dumps(exact_integers(article))))
    return out


@app.command()
def produce(
    paths: list[str] = typer.Argument(..., metavar="PATH", help="Files (.txt, .json, .jsonl) or - for standard input."),
    topic: Optional[str] = typer.Option(None, metavar="TOPIC", help="Topic; default UNSPUN_INPUT_TOPIC."),
    broker: Optional[str] = BROKER_OPTION,
    fmt: InputFormat = FORMAT_OPTION,
) -> None:
    """Send articles to the input topic, keyed by article id, and print how many were sent."""
    from workers.stream.kafka import ensure_topics, send_messages  # noqa: PLC0415

    settings = _settings(broker=broker)
    _need_broker(settings)
    messages, skipped = [], 0
    for key, value in _article_messages(article for _, article in _read_or_fail(paths, fmt)):
        if len(value) > settings.max_message_bytes:
            skipped += 1
            typer.echo(
                f"unspun: skipped {key.decode() if key else '(no id)'}: message is {len(value)} bytes, "
                f"over the {settings.max_message_bytes}-byte limit (UNSPUN_MAX_MESSAGE_BYTES)",
                err=True,
            )
        else:
            messages.append((key, value))
    target = topic or settings.input_topic

    async def _run() -> int:
        await ensure_topics(settings)
        return await send_messages(settings, target, messages)

    try:
        sent = asyncio.run(_run())
    except Exception as exc:  # noqa: BLE001 - report any client error plainly
        raise _fail(f"could not send to {target}: {_client_error(settings, exc)}", 1) from None
    typer.echo(f"sent {sent} of {sent + skipped} article{'s' if sent + skipped != 1 else ''} to {target}")
    if skipped:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------------------- tail


@app.command()
def tail(
    topic: Optional[str] = typer.Option(None, metavar="TOPIC", help="Topic; default UNSPUN_ENRICHED_TOPIC (use the DLQ topic for dead letters)."),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Start at the earliest offset, not at the end."),
    max_messages: Optional[int] = typer.Option(None, "--max", metavar="N", help="Stop after N messages."),
    timeout: Optional[float] = typer.Option(None, metavar="SECONDS", help="Stop after this many seconds without a message."),
    broker: Optional[str] = BROKER_OPTION,
) -> None:
    """Print the messages of a topic as JSON lines (values that are not JSON are printed as a JSON string)."""
    from workers.stream.kafka import iter_messages  # noqa: PLC0415

    settings = _settings(broker=broker)
    _need_broker(settings)
    target = topic or settings.enriched_topic

    async def _run() -> None:
        async for record in iter_messages(
            settings, target, from_beginning=from_beginning, max_messages=max_messages, idle_timeout_s=timeout
        ):
            sys.stdout.write(_json_line(record.value) + "\n")
            sys.stdout.flush()

    try:
        asyncio.run(_run())
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001
        raise _fail(f"could not read {target}: {_client_error(settings, exc)}", 1) from None


def _client_error(settings: Settings, exc: BaseException) -> str:
    """A Kafka client error in words; a broker that could not be reached gets its address and where it is set."""
    from aiokafka.errors import KafkaConnectionError  # noqa: PLC0415

    from workers.stream.kafka import bootstrap_servers, describe_error  # noqa: PLC0415

    text = describe_error(exc)
    if isinstance(exc, KafkaConnectionError):
        text += f" (no Kafka broker answers at {', '.join(bootstrap_servers(settings.broker))}; check --broker or KAFKA_BROKER)"
    return text


def _json_line(value: bytes | None) -> str:
    if value is None:
        return "null"
    try:
        return orjson.dumps(orjson.loads(value)).decode()
    except orjson.JSONDecodeError:
        return orjson.dumps(value.decode("utf-8", "replace")).decode()


# -------------------------------------------------------------------------------------- restore


@app.command()
def restore(
    paths: list[str] = typer.Argument(..., metavar="PATH", help="Files (.txt, .json, .jsonl) or - for standard input."),
    html: Optional[Path] = typer.Option(None, "--html", metavar="FILE", help="Also write a self-contained HTML page of the events here."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="FILE", help="Backfill one JSON-lines file: stream its events to this file (see --jobs, --resume)."),
    dead_letters: Optional[Path] = typer.Option(None, "--dead-letters", metavar="FILE", help="With --out: file of dead-letter records [default: OUT's name with .dead-letters.jsonl]."),
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1, metavar="N", help="With --out: processes enriching in parallel [default: the number of cores]."),
    resume: bool = typer.Option(False, "--resume", help="With --out: append, skipping input lines already answered in --out or --dead-letters."),
    fmt: InputFormat = FORMAT_OPTION,
) -> None:
    """Restore and enrich articles without a broker; print one enriched event (JSON) per line.

    Articles that cannot be enriched are reported on standard error (file and line or index, id,
    kind and reason) and the exit code is 1. With --html PATH the events are also written as a
    page that marks each edit and entity. With --out a JSON-lines archive is streamed instead.
    """
    settings = _settings()
    _check_dictionaries(settings, load=True)
    if out is not None:
        if fmt not in (InputFormat.auto, InputFormat.jsonl):
            raise _fail("--out reads one JSON-lines file: --format text or json does not apply")
        _backfill(paths, html, out, dead_letters, jobs, resume)
        return
    if dead_letters is not None or jobs is not None or resume:
        raise _fail("--dead-letters, --jobs and --resume go with --out")
    _check_destination(html, "--html")
    from workers.articles import Rejected, normalise_article  # noqa: PLC0415
    from workers.pipeline import Enricher  # noqa: PLC0415

    articles, origins, failed = [], [], 0
    for where, article in _read_or_fail(paths, fmt):
        try:
            articles.append(normalise_article(article, settings))
            origins.append(where)
        except Rejected as rejected:
            failed += 1
            typer.echo(f"unspun: {where} {article.get('id') or '(no id)'}: {rejected.kind}: {rejected.reason}", err=True)
    events = []
    if articles:
        for where, result in zip(origins, Enricher(settings).enrich_many(articles)):
            if isinstance(result, Rejected):
                failed += 1
                typer.echo(f"unspun: {where} {result.article_id or '(no id)'}: {result.kind}: {result.reason}", err=True)
            else:
                events.append(result)
                sys.stdout.write(orjson.dumps(result).decode() + "\n")
        sys.stdout.flush()
    if html is not None:
        _write_html(html, events)
    if failed:
        raise typer.Exit(1)


def _backfill(paths: list[str], html: Optional[Path], out: Path, dead_letters: Optional[Path], jobs: Optional[int], resume: bool) -> None:
    """``restore PATH --out OUT``: every line of the JSON-lines file PATH answered by one line in OUT
    (event) or in the dead-letter file, on ``jobs`` processes, with a progress bar when standard
    error is a terminal and a summary line at the end (``workers.backfill``). Exit code 0 when
    every line was answered (dead letters included), 128 + signal number when interrupted."""
    from concurrent.futures.process import BrokenProcessPool  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    from workers.backfill import StoppedAtOnce, default_jobs, run_backfill  # noqa: PLC0415
    from workers.progress import BackfillProgress  # noqa: PLC0415

    if len(paths) != 1 or html is not None:
        raise _fail("--out takes one JSON-lines file (or -) and no --html")
    if Path(paths[0]).suffix.lower() in (".json", ".txt"):
        # a pretty-printed .json read line by line would be all not_json dead letters
        raise _fail(f"--out reads JSON lines, one article object per line: {paths[0]} is a {Path(paths[0]).suffix} file "
                    "(restore it without --out, or write it as .jsonl)")
    dead = dead_letters or out.with_name(f"{out.stem}.dead-letters.jsonl")
    if dead.resolve() == out.resolve():
        raise _fail("--out and --dead-letters must be different files")
    _check_destination(out, "--out")
    _check_destination(dead, "--dead-letters")
    if not resume:
        for path in (out, dead):
            if path.exists() and path.stat().st_size:
                raise _fail(f"{path} exists: pass --resume to finish an interrupted run, or remove it")
    console = Console(stderr=True)
    progress = BackfillProgress(console) if console.is_terminal else None
    try:
        totals = run_backfill(
            paths[0], out, dead, _settings(), jobs=jobs or default_jobs(), resume=resume,
            on_progress=progress.update if progress else None,
        )
    except OSError as exc:
        if not (exc.filename and exc.strerror):
            raise _fail(str(exc)) from None
        reading = str(exc.filename) == paths[0]
        raise _fail(f"{exc.filename}: {'cannot read: ' if reading else ''}{exc.strerror}") from None
    except ValueError as exc:
        raise _fail(str(exc)) from None
    except StoppedAtOnce as exc:
        raise _fail(f"stopped at once by a second {signal.Signals(exc.signum).name}: the batches in flight were dropped, "
                    "the lines written are complete: run again with --resume", 128 + exc.signum) from None
    except BrokenProcessPool:
        raise _fail("a worker process died (out of memory?); the lines written are complete: run again with --resume", 1) from None
    finally:
        if progress is not None:
            progress.stop()
    if not totals.articles and not resume and totals.interrupted_by is None:
        for path in (out, dead):  # nothing was written to them
            if path.exists() and not path.stat().st_size:
                path.unlink()
        raise _fail(f"{'<stdin>' if paths[0] == '-' else paths[0]}: empty, no articles")
    typer.echo(f"unspun: {totals.summary()}", err=True)
    if totals.interrupted_by is not None:
        raise typer.Exit(128 + totals.interrupted_by)


def _check_destination(path: Optional[Path], option: str) -> None:
    """Stop with exit code 2 and one line, before any work, when the file of ``option`` could not
    be written: it is a folder, its folder does not exist, or either is not writable."""
    if path is None:
        return
    folder = path.parent
    if path.is_dir():
        problem = "is a folder"
    elif not folder.is_dir():
        problem = f"{folder} is not an existing folder"
    elif not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        problem = "not writable"
    else:
        return
    raise _fail(f"cannot write {option} {path}: {problem}")


def _write_html(path: Path, events: list[dict[str, Any]]) -> None:
    from workers.html import render_page  # noqa: PLC0415

    try:
        path.write_text(render_page(events), encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write {path}: {exc}") from None
    typer.echo(f"unspun: wrote {path} ({len(events)} article{'' if len(events) == 1 else 's'})", err=True)


# ----------------------------------------------------------------------------------------- demo


def _wait_ready(port: int, timeout_s: float, proc: subprocess.Popen | None = None, host: str = "127.0.0.1") -> None:
    """Poll ``http://host:port/ready`` until it answers 200 (return), ``timeout_s`` seconds pass or
    ``proc`` exits (``RuntimeError`` saying which, and what the last poll saw)."""
    deadline = time.monotonic() + timeout_s
    seen = f"nothing answered on http://{host}:{port}"
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the worker exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/ready", timeout=max(0.1, min(2.0, deadline - time.monotonic()))) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            seen = f"http://{host}:{port}/ready answered {exc.code}: {exc.read().decode(errors='replace').strip()[:300]}"
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() + 0.25 > deadline:
            raise RuntimeError(f"the worker was not ready within {timeout_s:g} s ({seen})")
        time.sleep(0.25)


#: Key prefix of the samples' deliberately bad messages (``bad-messages.raw``, line by line).
BAD_SAMPLE_KEY = "bad-"


def _demo_messages() -> list[tuple[bytes | None, bytes]]:
    """The bundled samples: every ``*.json`` article, then each line of ``bad-messages.raw`` as is."""
    from workers.inputs import read_articles  # noqa: PLC0415

    files = sorted(str(p) for p in SAMPLES_DIR.glob("*.json"))
    messages = _article_messages(read_articles(files)) if files else []
    bad = SAMPLES_DIR / "bad-messages.raw"
    if bad.is_file():
        for n, line in enumerate(bad.read_bytes().splitlines(), 1):
            if line.strip():
                messages.append((f"{BAD_SAMPLE_KEY}{n}".encode(), line))
    return messages


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def render_event(event: dict[str, Any], plain: bool = False) -> Any:
    """A rich renderable of an enriched event: title, restored text with edits marked
    (received words struck through in red, restored words in green; with ``plain``, for output
    that is not a terminal, as ``[-received-]{+restored+}``), and the entities."""
    from rich.console import Group  # noqa: PLC0415
    from rich.panel import Panel  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    def marked(text: str | None, edits: list[dict[str, Any]]) -> Text:
        out = Text()
        pos = 0
        source = text or ""
        for edit in sorted(edits, key=lambda e: e["start"]):
            out.append(source[pos : edit["start"]])
            if plain:
                out.append(f"[-{edit['original']}-]{{+{edit['restored']}+}}")
            else:
                out.append(edit["original"], style="strike red")
                out.append(" ")
                out.append(edit["restored"], style="bold green")
            pos = edit["end"]
        out.append(source[pos:])
        return out

    parts: list[Any] = []
    if event.get("title"):
        title = marked(event["title"], event.get("title_edits") or [])
        title.stylize("bold")
        parts.append(title)
        parts.append(Text(""))
    parts.append(marked(event.get("text"), event.get("edits") or []))
    entities = event.get("entity_summary") or []
    if entities:
        line = Text("\nEntities: ", style="bold")
        for i, entity in enumerate(entities):
            if i:
                line.append(", ")
            line.append(entity["canonical"], style="cyan")
            line.append(f" ({entity['label']}")
            line.append(f" x{entity['mentions']})" if entity.get("mentions", 1) > 1 else ")")
        parts.append(line)
    n_edits = len(event.get("edits") or []) + len(event.get("title_edits") or [])
    subtitle = f"{n_edits} edits · spin score {event.get('spin_score', 0):.2f} · {event.get('latency_ms', {}).get('total', 0):.0f} ms"
    return Panel(Group(*parts), title=str(event.get("id")), subtitle=subtitle, expand=True)


def render_dead_letter(record: dict[str, Any]) -> Any:
    """A one-line rich renderable of a dead-letter record."""
    from rich.text import Text  # noqa: PLC0415

    line = Text("dead letter ", style="bold yellow")
    line.append(f"[{record.get('kind')}] ", style="yellow")
    line.append(f"{record.get('reason')}  (from {record.get('topic')}[{record.get('partition')}]@{record.get('offset')})")
    return line


@app.command()
def demo(
    timeout: float = typer.Option(120.0, metavar="SECONDS", help="Give up after this many seconds."),
    html: Path = typer.Option(Path("unspun-demo.html"), "--html", metavar="FILE", help="Where to write the HTML page of the events."),
) -> None:
    """Run the whole job locally: embedded broker, worker, bundled samples in, enriched events out.

    Needs no network and no Docker. Stops everything it started; exits 0 when every sample
    produced exactly one output.
    """
    from rich.console import Console  # noqa: PLC0415

    from workers.stream.broker import BrokerError, EmbeddedBroker, free_port  # noqa: PLC0415
    from workers.stream.kafka import ensure_topics  # noqa: PLC0415

    console = Console()
    messages = _demo_messages()
    if not messages:
        raise _fail(f"no sample articles in {SAMPLES_DIR}")
    base = _settings()
    _check_destination(html, "--html")
    _check_dictionaries(base)
    started = time.monotonic()
    try:
        broker = EmbeddedBroker(port=base.embedded_broker_port).start()
    except BrokerError as exc:
        raise _fail(str(exc)) from None
    worker_proc: subprocess.Popen | None = None
    try:
        settings = base.model_copy(update={"broker": broker.url})
        metrics_port = free_port(base.metrics_host)
        console.print(f"[bold]embedded broker[/] {broker.url}")
        env = dict(os.environ)
        env.update(
            {
                "KAFKA_BROKER": broker.url,
                "UNSPUN_METRICS_PORT": str(metrics_port),
                "UNSPUN_SESSION_TIMEOUT_S": env.get("UNSPUN_SESSION_TIMEOUT_S", "6"),
                "UNSPUN_HEARTBEAT_INTERVAL_S": env.get("UNSPUN_HEARTBEAT_INTERVAL_S", "1"),
                "UNSPUN_LOG_LEVEL": env.get("UNSPUN_LOG_LEVEL", "WARNING"),
            }
        )
        asyncio.run(ensure_topics(settings))
        log_path = Path(broker.log_path or "unspun").with_name(f"unspun-demo-worker-{os.getpid()}.log")
        with open(log_path, "wb") as log_file:
            worker_proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "workers.cli", "worker"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        console.print(f"[bold]worker[/] pid {worker_proc.pid}, metrics on http://127.0.0.1:{metrics_port}/metrics")
        with console.status("loading models and joining the consumer group..."):
            try:
                _wait_ready(metrics_port, max(10.0, timeout - (time.monotonic() - started)), worker_proc)
            except RuntimeError as exc:
                console.print(f"[red]{exc}[/]; worker log: {log_path}")
                raise typer.Exit(1) from None
        summary = asyncio.run(_demo_roundtrip(console, settings, messages, timeout - (time.monotonic() - started)))
    finally:
        if worker_proc is not None and worker_proc.poll() is None:
            worker_proc.send_signal(signal.SIGTERM)
            try:
                worker_proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker_proc.kill()
                worker_proc.wait()
        broker.stop()
    n_in, events, n_dead, latencies = summary
    n_events = len(events)
    _write_html(html, events)
    console.print(
        f"[bold]summary[/] articles in: {n_in}, events out: {n_events}, dead letters: {n_dead}, "
        f"end-to-end latency p50: {_percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99: {_percentile(latencies, 0.99) * 1000:.0f} ms",
        soft_wrap=True,
    )
    n_bad = sum(1 for key, _ in messages if key is not None and key.startswith(BAD_SAMPLE_KEY.encode()))
    if n_bad:
        console.print(
            f"[bold]note[/] the samples include {n_bad} deliberately bad messages (no text, blank text, not JSON; "
            f"see workers/samples/README.md), so {n_bad} dead letters are expected",
            soft_wrap=True,
        )
    if n_events + n_dead != n_in:
        raise typer.Exit(1)


async def _demo_roundtrip(
    console: Any, settings: Settings, messages: list[tuple[bytes | None, bytes]], timeout_s: float
) -> tuple[int, list[dict[str, Any]], int, list[float]]:
    """Produce the messages, print each output as it arrives; return (in, events, dead letters, latencies s)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: PLC0415

    from workers.stream.kafka import client_kwargs  # noqa: PLC0415

    consumer = AIOKafkaConsumer(
        enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100, **client_kwargs(settings)
    )
    await consumer.start()
    try:
        tps = []
        for topic in (settings.enriched_topic, settings.dlq_topic):
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                await consumer._client.force_metadata_update()  # noqa: SLF001
                partitions = consumer.partitions_for_topic(topic) or {0}
            tps += [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        producer = AIOKafkaProducer(acks="all", **client_kwargs(settings))
        await producer.start()
        sent_at: dict[bytes | None, float] = {}
        try:
            for key, value in messages:
                metadata = await (await producer.send(settings.input_topic, value=value, key=key))
                sent_at[key] = metadata.timestamp / 1000.0
        finally:
            await producer.stop()
        console.print(f"[bold]produced[/] {len(messages)} messages to {settings.input_topic}\n")
        events: list[dict[str, Any]] = []
        n_dead = 0
        latencies: list[float] = []
        deadline = time.monotonic() + max(5.0, timeout_s)
        while len(events) + n_dead < len(messages) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=250)
            for record in sorted((r for rs in batch.values() for r in rs), key=lambda r: r.timestamp):
                payload = orjson.loads(record.value)
                if record.key in sent_at:
                    latencies.append(max(0.0, record.timestamp / 1000.0 - sent_at[record.key]))
                if record.topic == settings.enriched_topic:
                    events.append(payload)
                    console.print(render_event(payload, plain=not console.is_terminal))
                else:
                    n_dead += 1
                    console.print(render_dead_letter(payload))
        return len(messages), events, n_dead, latencies
    finally:
        await consumer.stop()


# ----------------------------------------------------------------------------------------- eval


@app.command(name="eval")
def evaluate(
    quick: bool = typer.Option(False, "--quick", help="A small subset of the corpora, for a fast check."),
    out: Path = typer.Option(Path("bench/results"), "--out", metavar="DIR", help="Directory for restoration.json and plots."),
    shared: Path = typer.Option(
        Path("../shared"), "--shared", metavar="DIR",
        help="Directory holding the evaluation corpora; when absent, a small bundled set is used."),
    rows: Optional[str] = typer.Option(None, "--rows", metavar="ROW,...", help="Comma-separated rows to run (default: all)."),
) -> None:
    """Run the restoration benchmark (workers/evaluation/restoration.py)."""
    from workers.evaluation.restoration import ROWS, run  # noqa: PLC0415

    keys = [k.strip() for k in rows.split(",") if k.strip()] if rows else None
    unknown = sorted(set(keys or ()) - {r.key for r in ROWS})
    if unknown:
        raise _fail(f"unknown row(s) {', '.join(unknown)}; rows: {', '.join(r.key for r in ROWS)}")
    if not shared.is_dir():
        typer.echo(f"unspun: {shared} not found: running on the small bundled set (30 Senate press releases, "
                   "300 PPS pairs; see workers/evaluation/data/SOURCE.md)", err=True)
    try:
        run(quick, out, shared if shared.is_dir() else None, rows=keys)
    except FileNotFoundError as exc:
        raise _fail(f"missing corpus: {exc}") from None


# ---------------------------------------------------------------------------------------- table

table_app = typer.Typer(no_args_is_help=True, help="Spinner tables: export learned substitutions, check a dictionary of your own.")
app.add_typer(table_app, name="table")


@table_app.command("export")
def table_export(
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="FILE", help="Write here (a .tsv file for UNSPUN_EXTRA_TABLES); default standard output."),
    min_articles: Optional[int] = typer.Option(None, metavar="N", help="Distinct articles a pair needs; default UNSPUN_LEARN_MIN_ARTICLES."),
    timeout: float = typer.Option(5.0, metavar="SECONDS", help="Stop reading after this many seconds without a record."),
    broker: Optional[str] = BROKER_OPTION,
) -> None:
    """Write the substitutions learned from linked copies (UNSPUN_LEARNED_TOPIC) in spinner-table
    format v1: one line per original, its learned spun forms, pos X."""
    from workers.linking.learn import PairCounter, table_lines  # noqa: PLC0415
    from workers.stream.kafka import iter_messages  # noqa: PLC0415

    settings = _settings(broker=broker, learn_min_articles=min_articles)
    _need_broker(settings)
    counter = PairCounter(settings.learn_min_articles)

    async def _run() -> int:
        n = 0
        async for record in iter_messages(settings, settings.learned_topic, from_beginning=True, idle_timeout_s=timeout):
            o = orjson.loads(record.value)
            counter.add(o["spun"], o["original"], o["article"])
            n += 1
        return n

    try:
        observed = asyncio.run(_run())
    except Exception as exc:  # noqa: BLE001
        raise _fail(f"could not read {settings.learned_topic}: {type(exc).__name__}: {exc}", 1) from None
    lines = [
        f"# Learned by unspun from {observed} observations on {settings.learned_topic}: "
        f"{len(counter.learned)} pairs seen in at least {counter.min_articles} linked articles.",
        *table_lines(counter.entries()),
    ]
    text = "\n".join(lines) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"unspun: wrote {len(counter.learned)} learned pairs to {out}", err=True)


@table_app.command("check")
def table_check(
    paths: list[Path] = typer.Argument(..., metavar="PATH", help="Dictionary files or folders, as in UNSPUN_EXTRA_TABLES."),
    show: int = typer.Option(10, "--show", metavar="N", help="How many skipped lines to print per file."),
) -> None:
    """Report what spinner dictionaries yield: detected format and encoding, entries, substitutes,
    forms after inflection, parts of speech, skipped lines with reasons. Exit 0 when every file is
    usable, 2 (each unusable file named with its line) when one would stop the worker."""
    from workers.restoration.dictionaries import DictionaryError, dictionary_files  # noqa: PLC0415

    settings = _settings()
    try:
        files = dictionary_files(paths)
    except DictionaryError as exc:
        raise _fail(str(exc)) from None
    unusable = 0
    for n, path in enumerate(files):
        if n:
            typer.echo("")
        try:
            _report_dictionary(path, settings.cache_dir or None, show)
        except DictionaryError as exc:
            unusable += 1
            typer.echo(f"unspun: {exc}", err=True)
    if unusable:
        raise typer.Exit(2)


def _report_dictionary(path: Path, cache_dir: str | None, show: int) -> None:
    """Print the ``table check`` report of one file; raises ``DictionaryError`` when it is unusable."""
    from collections import Counter  # noqa: PLC0415

    from workers.restoration.dictionaries import compile_dictionary, read_dictionary  # noqa: PLC0415

    d = read_dictionary(path)
    compiled = compile_dictionary(path, cache_dir)
    items = [i for e in d.entries for i in (e.original, *e.substitutes)]
    pos = Counter(e.pos for e in d.entries)
    kinds = Counter(e.kind for e in d.entries)
    pairs = sum(len(v) for v in compiled.forward.values())
    typer.echo(f"{path}: usable")
    typer.echo(f"format: {d.format}, encoding: {d.encoding}, lines: {d.lines:,}")
    typer.echo(f"groups: {d.groups:,}, entries: {len(d.entries):,} ({kinds['word']:,} word, {kinds['phrase']:,} phrase heads)")
    typer.echo(f"substitutes: {sum(len(e.substitutes) for e in d.entries):,}, multiword items: {sum(' ' in i for i in items):,}")
    typer.echo(f"forms after inflection: {len(compiled.reverse):,} spun forms, {pairs:,} original -> substitute pairs")
    typer.echo("part of speech: " + ", ".join(f"{p} {pos[p]:,}" for p in ("VERB", "NOUN", "ADJ", "X")))
    typer.echo(f"skipped lines: {d.skipped:,} ({d.malformed:,} malformed, {d.skipped - d.malformed:,} duplicate)")
    if d.problems:
        typer.echo(f"problems (skipped lines, left-out items; first {min(show, len(d.problems))} of {len(d.problems):,}):")
    for problem in d.problems[:show]:
        typer.echo(f"  {problem}")
    if len(d.problems) > show:
        typer.echo(f"  ... {len(d.problems) - show:,} more")


def main() -> None:
    """Entry point for ``python -m workers.cli``."""
    app()


if __name__ == "__main__":
    main()
