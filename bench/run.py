"""Run every unspun benchmark and report them against their baselines.

    python bench/run.py [--quick] [--shared] [--groups 15000] [--skip-library] [--skip-stream]

1. ``bench/library.py`` (own process, pinned to one core): restorer, bare spaCy NER, restore+NER;
2. ``bench/stream.py``: the worker against the embedded broker (max rate, 25/50/75% loads), the raw
   aiokafka passthrough, and one vs two workers.

Prints a table per benchmark with the ratios (full pipeline / library restore+NER, restore+NER / bare
NER, two workers / one worker), the targets of issue 7, and the machine's core count. Writes
``bench/results/bench-<time>.json`` (and ``latest.json``), the latency histogram ``latency.png`` and
the tables as Markdown ``RESULTS.md``. ``--quick`` finishes in under two minutes.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))

import orjson  # noqa: E402

import report  # noqa: E402


def _run(script: str, out: Path, args: list[str]) -> dict:
    cmd = [sys.executable, str(BENCH / script), "--json", str(out), *args]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, cwd=str(ROOT))
    print(f"{script}: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return orjson.loads(out.read_bytes())


def machine() -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_count": os.cpu_count(), "usable_cpus": usable, "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform()}


def main(argv: list[str] | None = None) -> None:
    from rich.console import Console

    p = argparse.ArgumentParser(description="Run all unspun benchmarks.")
    p.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    p.add_argument("--shared", action="store_true", help="article text from ../shared/corpora (GUM Wikinews)")
    p.add_argument("--groups", type=int, default=0,
                   help="library rows with a thesaurus dictionary of this many groups loaded (see bench/library.py)")
    p.add_argument("--skip-library", action="store_true")
    p.add_argument("--skip-stream", action="store_true")
    p.add_argument("--publish", action="store_true",
                   help="also copy RESULTS.md and latency.png to bench/ (tracked) for the README")
    p.add_argument("--what-if", action="store_true",
                   help="also measure the 50%% load with Faust's 1500 ms consumer fetch wait (default in full mode)")
    p.add_argument("--report", metavar="JSON", help="only print the tables of an earlier run (e.g. bench/results/latest.json)")
    args = p.parse_args(argv)
    if args.report:
        old = orjson.loads(Path(args.report).read_bytes())
        console = Console(width=None if sys.stdout.isatty() else 200)
        tables = ([report.library_table(old["library"])] if old.get("library") else []) + (
            report.stream_tables(old["stream"], old.get("library")) if old.get("stream") else [])
        tables.append(report.targets(old.get("library"), old.get("stream"))[0])
        for t in tables:
            t.print(console)
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    extra = (["--quick"] if args.quick else []) + (["--shared"] if args.shared else [])
    started = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result: dict = {"machine": machine(), "quick": args.quick, "shared": args.shared, "time": stamp}
    lib_args = extra + (["--groups", str(args.groups)] if args.groups else [])
    library = None if args.skip_library else _run("library.py", RESULTS / f"library-{stamp}.json", lib_args)
    stream_args = extra + (["--what-if"] if args.what_if or not args.quick else [])
    stream = None if args.skip_stream else _run("stream.py", RESULTS / f"stream-{stamp}.json", stream_args)
    result["library"], result["stream"] = library, stream

    console = Console(width=None if sys.stdout.isatty() else 200)
    tables: list[report.Table] = []
    if library:
        tables.append(report.library_table(library))
    if stream:
        tables += report.stream_tables(stream, library)
    target_table, found = report.targets(library, stream)
    tables.append(target_table)
    result["ratios"] = found
    result["seconds"] = round(time.monotonic() - started, 1)
    for t in tables:
        t.print(console)
        console.print()
    m = result["machine"]
    console.print(f"machine: {m['cpu_count']} cores ({m['usable_cpus']} usable), {m['cpu_model']}, Python {m['python']}")

    plot = report.latency_plot(stream, RESULTS / "latency.png") if stream else None
    if plot:
        console.print(f"latency histogram: {plot}")
    data = orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    (RESULTS / f"bench-{stamp}.json").write_bytes(data)
    (RESULTS / "latest.json").write_bytes(data)
    md = [f"Measured {stamp} on {m['cpu_count']} cores ({m['cpu_model']}), Python {m['python']}"
          f"{', quick mode' if args.quick else ''}.", ""]
    for t in tables:
        md += [t.markdown(), ""]
    if plot:
        md.append("![end-to-end latency](latency.png)")
    (RESULTS / "RESULTS.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    console.print(f"results: {RESULTS / f'bench-{stamp}.json'} and RESULTS.md; total {result['seconds']:.0f} s")
    if args.publish:
        import shutil

        (BENCH / "RESULTS.md").write_text("\n".join(md) + "\n", encoding="utf-8")
        if plot:
            shutil.copyfile(plot, BENCH / "latency.png")
        console.print("copied to bench/RESULTS.md and bench/latency.png")


if __name__ == "__main__":
    main()
