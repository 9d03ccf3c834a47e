"""Backfill benchmark: ``unspun restore ARCHIVE --out OUT`` through the real command.

1. Speed: the benchmark articles (``bench/articles.py``: ~600 words, half spun) written to a JSON-lines
   file, enriched with ``--jobs 1`` and ``--jobs N`` (default 2) in turns, ``--repeats`` times each;
   articles/s from each run's summary line (enrichment time, model loading excluded), the best run of
   each, and their ratio (target >= 1.8 on 2 cores).
2. Memory: a large input generated on the fly in a temporary folder (``--gb``, default 1.0): short
   articles (each with its own numbers and invented words, so spaCy's string store sees new strings),
   each with a ``--pad-kb`` extra field that the event carries along, so the file is large while NLP
   costs little per byte. ``--jobs N`` over it while the resident memory (RSS, and PSS, which counts
   copy-on-write pages shared by the forked workers once) of the command and its workers is sampled
   against the input read. Prints the samples at each tenth of the input and the growth from the
   first to the last tenth (target: flat).

    python bench/backfill.py [--n 120] [--jobs 2] [--repeats 2] [--gb 1.0] [--pad-kb 16] [--skip-speed] [--skip-memory]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import re
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import orjson  # noqa: E402

import articles as article_set  # noqa: E402
from soak import _family, _rss_mb  # noqa: E402

SUMMARY = re.compile(r"articles: (\d+), events: (\d+), dead letters: (\d+), seconds: ([\d.]+), articles/s: ([\d.]+)")


def _restore(src: Path, out: Path, jobs: int, env: dict[str, str], sampler=None) -> dict:
    """Run the command to the end; returns its summary numbers (and the sampler's samples)."""
    cmd = [sys.executable, "-m", "workers.cli", "restore", str(src), "--out", str(out), "--jobs", str(jobs)]
    started = time.monotonic()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = []
    thread = None
    if sampler is not None:
        thread = threading.Thread(target=sampler, args=(proc, src, samples), daemon=True)
        thread.start()
    _, stderr = proc.communicate()
    if thread is not None:
        thread.join()
    m = SUMMARY.search(stderr)
    if proc.returncode != 0 or not m:
        raise SystemExit(f"restore failed ({proc.returncode}):\n{stderr[-3000:]}")
    articles, events, dead, seconds, rate = m.groups()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"cpu_s": round(cpu_s, 2), "load_average": [round(x, 2) for x in os.getloadavg()],"jobs": jobs, "articles": int(articles), "events": int(events), "dead_letters": int(dead),
            "seconds": float(seconds), "articles_per_s": float(rate), "wall_s": round(time.monotonic() - started, 1),
            "samples": samples}


def _pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _input_position(pid: int, src: Path) -> int | None:
    """Where the command's read of ``src`` is (bytes), from /proc/PID/fdinfo."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(src):
                    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                        return int(f.readline().split()[1])
            except OSError:
                continue
    except OSError:
        pass
    return None


def _sample(every_s: float):
    def run(proc: subprocess.Popen, src: Path, samples: list) -> None:
        t0 = time.monotonic()
        while proc.poll() is None:
            family = _family(proc.pid)
            pos = _input_position(proc.pid, src)
            if pos is not None:
                samples.append({"t": round(time.monotonic() - t0, 1), "input_mb": round(pos / 2**20, 1),
                                "rss_mb": round(sum(_rss_mb(p) for p in family), 1),
                                "pss_mb": round(sum(_pss_mb(p) for p in family), 1), "processes": len(family)})
            time.sleep(every_s)

    return run


def _big_input(path: Path, target_bytes: int, pad_kb: int, seed: int = 3) -> int:
    """Write short articles padded to ``pad_kb`` KB each until ``target_bytes``; returns the line count."""
    rng = random.Random(seed)
    people, places = article_set.PEOPLE, article_set.PLACES
    pad_alphabet = string.ascii_letters + string.digits + " "
    pad_block = "".join(rng.choice(pad_alphabet) for _ in range(4096))
    written = n = 0
    with open(path, "wb", buffering=1 << 20) as f:
        while written < target_bytes:
            word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 9))).capitalize()
            text = (f"{rng.choice(people)} mentioned on {rng.choice(article_set.DAYS)} that {word} Holdings would "
                    f"spend {rng.randint(2, 9999)} million {{dollars}} in {rng.choice(places)}, officers mentioned. "
                    f"The corporate expects 1000's of jobs this yr, according to report {n}.")
            pad = (pad_block * (pad_kb // 4 + 1))[: pad_kb * 1024 - rng.randint(0, 512)]
            line = orjson.dumps({"id": f"big-{n}", "title": f"{word} plan in {rng.choice(places)}", "text": text,
                                 "raw_html": pad}) + b"\n"
            f.write(line)
            written += len(line)
            n += 1
    return n


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description="unspun restore --out: jobs speed-up and memory over a large input.")
    p.add_argument("--n", type=int, default=120, help="benchmark articles for the speed runs")
    p.add_argument("--jobs", type=int, default=2, help="jobs compared against --jobs 1")
    p.add_argument("--repeats", type=int, default=2, help="speed runs of each, taken in turns; the best counts")
    p.add_argument("--gb", type=float, default=1.0, help="size of the generated input for the memory run, GB")
    p.add_argument("--pad-kb", type=int, default=16, help="extra-field padding per article of the memory run, KB")
    p.add_argument("--every", type=float, default=1.0, help="memory sampling interval, seconds")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNSPUN_")}
    env["PYTHONPATH"] = str(ROOT)
    result: dict = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="unspun-backfill-") as tmp:
        tmp_path = Path(tmp)
        if not args.skip_speed:
            src = tmp_path / "bench.jsonl"
            src.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in article_set.generate(args.n)))
            empty = tmp_path / "empty.jsonl"
            empty.write_bytes(b"")
            load_cpu = _restore(empty, tmp_path / "empty-out.jsonl", 1, env)["cpu_s"]  # model loading alone
            # Runs take turns; the best of each stands for it (other load only slows a run down).
            tries = [_restore(src, tmp_path / f"speed-{k}-{j}.jsonl", j, env)
                     for k in range(args.repeats) for j in (1, args.jobs)]
            runs = [max((r for r in tries if r["jobs"] == j), key=lambda r: r["articles_per_s"]) for j in (1, args.jobs)]
            ratio = runs[1]["articles_per_s"] / runs[0]["articles_per_s"]
            for r in tries:
                print(f"  try: --jobs {r['jobs']} {r['articles_per_s']} articles/s, load average after {r['load_average'][0]}")
            for r in runs:
                r["cpu_ms_per_article"] = round(1000 * (r["cpu_s"] - load_cpu) / r["articles"], 1)
                print(f"--jobs {r['jobs']}: {r['articles']} articles in {r['seconds']} s: {r['articles_per_s']} articles/s "
                      f"(wall {r['wall_s']} s with model loading), {r['cpu_ms_per_article']} CPU ms/article, "
                      f"load average after {r['load_average'][0]}")
            cpu_ratio = runs[0]["cpu_ms_per_article"] / runs[1]["cpu_ms_per_article"]
            result["speed"] = {"runs": runs, "ratio": round(ratio, 2), "cpu_efficiency": round(cpu_ratio, 2), "load_cpu_s": load_cpu}
            print(f"--jobs {args.jobs} / --jobs 1: {ratio:.2f} x articles/s (target >= 1.8 on 2 cores; {os.cpu_count()} cores here); "
                  f"CPU per article --jobs 1 / --jobs {args.jobs}: {cpu_ratio:.2f} (1.0: no parallel overhead; the wall "
                  f"ratio falls short of {args.jobs} x by that and by other load on the machine)")
        if not args.skip_memory:
            src = tmp_path / "big.jsonl"
            t0 = time.monotonic()
            lines = _big_input(src, int(args.gb * 1e9), args.pad_kb)
            size_mb = src.stat().st_size / 2**20
            print(f"\nmemory run: generated {lines} articles, {size_mb:.0f} MiB, in {time.monotonic() - t0:.0f} s")
            run = _restore(src, tmp_path / "big-out.jsonl", args.jobs, env, sampler=_sample(args.every))
            samples = [s for s in run["samples"] if s["input_mb"] > 0]
            print(f"--jobs {args.jobs}: {run['articles']} articles in {run['seconds']} s ({run['articles_per_s']} articles/s)")
            print(f"{'input read MiB':>15} {'RSS MiB':>9} {'PSS MiB':>9} processes")
            tenths = []
            for k in range(1, 11):
                upto = [s for s in samples if s["input_mb"] <= size_mb * k / 10]
                if upto:
                    s = upto[-1]
                    tenths.append(s)
                    print(f"{s['input_mb']:>15.0f} {s['rss_mb']:>9.0f} {s['pss_mb']:>9.0f} {s['processes']:>9}")
            first = [s for s in samples if s["input_mb"] <= size_mb / 10]
            last = [s for s in samples if s["input_mb"] >= size_mb * 0.9]
            if first and last:
                grow_rss = max(s["rss_mb"] for s in last) - max(s["rss_mb"] for s in first)
                grow_pss = max(s["pss_mb"] for s in last) - max(s["pss_mb"] for s in first)
                print(f"peak in the last tenth minus peak in the first tenth: RSS {grow_rss:+.0f} MiB, PSS {grow_pss:+.0f} MiB "
                      f"over {size_mb:.0f} MiB of input (peak RSS {max(s['rss_mb'] for s in samples):.0f} MiB)")
                result["memory"] = {"input_mib": round(size_mb), "articles": run["articles"], "seconds": run["seconds"],
                                    "growth_rss_mib": round(grow_rss), "growth_pss_mib": round(grow_pss),
                                    "peak_rss_mib": max(s["rss_mb"] for s in samples), "tenths": tenths}
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return result


if __name__ == "__main__":
    main()
