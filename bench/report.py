"""Tables (rich), Markdown and the latency plot for the benchmark results of ``bench/run.py``.

Every function takes the JSON-able dicts written by ``bench/library.py`` and ``bench/stream.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGETS = {
    "pipeline_over_library": 0.8,
    "restore_ner_over_ner_bare": 0.85,
    "p99_at_50_ms": 250.0,
    "two_over_one_worker": 1.7,
    "worker_rss_mib": 1536.0,
}


@dataclass
class Table:
    """A titled table that prints with rich and renders as Markdown."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""

    def print(self, console=None) -> None:
        from rich.console import Console
        from rich.table import Table as RichTable

        console = console or Console()
        t = RichTable(title=self.title, title_justify="left", caption=self.note or None, caption_justify="left")
        for i, c in enumerate(self.columns):
            t.add_column(c, justify="left" if i == 0 else "right")
        for r in self.rows:
            t.add_row(*[_fmt(x) for x in r])
        console.print(t)

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(self.columns))) + "|"]
        lines += ["| " + " | ".join(_fmt(x) for x in r) + " |" for r in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines)


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        if abs(x) >= 100:
            return f"{x:.0f}"
        if abs(x) >= 10:
            return f"{x:.1f}"
        return f"{x:.2f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


# --------------------------------------------------------------------------------------------- library


def library_table(lib: dict) -> Table:
    rows = lib["rows"]
    bare = rows["ner_bare"]["words_per_s"]
    names = {
        "restore": "restorer alone",
        "ner_bare": "NER alone (bare spaCy nlp.pipe)",
        "ner_extractor": "NER via EntityExtractor",
        "restore_ner": "restore+NER (Enricher.enrich_many)",
    }
    out = []
    for key, label in names.items():
        r = rows[key]
        out.append([label, r["articles_per_s"], r["words_per_s"], r["ms_per_article"], r.get("cpu_ms_per_article"),
                    _ratio(r["words_per_s"], bare),
                    _ratio(rows["ner_bare"].get("cpu_ms_per_article"), r.get("cpu_ms_per_article"))])
    a = lib["articles"]
    note = (f"{a['articles']} articles ({a['spun']} spun), {a['words_mean']:.0f} words each; median of {lib['repeats']} runs "
            f"taken in turns; one core (CPU {lib.get('pinned_cpu')}); spaCy components: {', '.join(lib['spacy_pipeline'])}; "
            f"batch {lib['batch_size']}")
    if lib.get("extra_groups"):
        note += f"; a thesaurus dictionary of {lib['extra_groups']:,} groups loaded"
    load = (lib.get("load_average") or {}).get("before")
    if load:
        note += f"; machine load average before: {load[0]:.2f}"
    return Table("Library path (one core)",
                 ["path", "articles/s", "words/s", "ms/article", "CPU ms/article", "x bare NER", "x bare NER (CPU)"],
                 out, note)


# --------------------------------------------------------------------------------------------- stream


def _phase_row(label: str, p: dict, library_aps: float | None, passthrough_aps: float | None) -> list[Any]:
    lat = p["latency_ms"]
    return [
        label, p.get("offered_rate"), p["articles_per_s"], p["words_per_s"],
        lat["p50"], lat["p95"], lat["p99"], p["delivered_ms"]["p99"], f"{p['received']}/{p['sent']}", p["dead_letters"],
        p.get("cpu_ms_per_article"),
        _ratio(p["articles_per_s"], library_aps) if p.get("offered_rate") is None else None,
    ]


def stream_tables(stream: dict, library: dict | None = None) -> list[Table]:
    lib_aps = library["rows"]["restore_ner"]["articles_per_s"] if library else None
    pt = stream["passthrough"]["phases"]
    one = stream["one_worker"]["phases"]
    two = stream["two_workers"]["phases"]
    rows = []
    rows.append(_phase_row("passthrough, max rate", pt["max"], None, None))
    if "load_50" in pt:
        rows.append(_phase_row("passthrough, worker's 50% rate", pt["load_50"], None, None))
    rows.append(_phase_row("1 worker, max rate", one["max"], lib_aps, None))
    for name in ("load_25", "load_50", "load_75"):
        if name in one:
            rows.append(_phase_row(f"1 worker, {name[5:]}% of max", one[name], lib_aps, None))
    rows.append(_phase_row("2 workers, max rate", two["max"], lib_aps, None))
    fw = (stream.get("fetch_wait_1500ms") or {}).get("phases", {}).get("load_50")
    if fw:
        rows.append(_phase_row("1 worker, 50%, fetch wait 1500 ms (Faust's own)", fw, None, None))
    tuned = (stream.get("tuned") or {}).get("phases", {})
    if tuned.get("max"):
        rows.append(_phase_row("1 worker tuned*, max rate", tuned["max"], lib_aps, None))
    if tuned.get("load_50"):
        rows.append(_phase_row("1 worker tuned*, same rate as 50%", tuned["load_50"], None, None))
    plan = stream["plan"]
    throughput = Table(
        "Stream path (embedded broker, 4 partitions)",
        ["run", "offered/s", "articles/s", "words/s", "e2e p50 ms", "p95 ms", "p99 ms", "delivered p99 ms", "out/in",
         "dead letters", "CPU ms/article", "x library restore+NER"],
        rows,
        (f"e2e = Kafka timestamp of the enriched event (worker's send) - Kafka timestamp of the input (produce); "
         f"delivered = until the benchmark's consumer had it; CPU = the worker (or passthrough) process's CPU time "
         f"per article. Burst {plan['burst']} articles; fixed loads "
         f"{plan['load_seconds']:.0f} s each; worker command: {stream['one_worker'].get('command')}; worker settings: "
         f"{stream.get('worker_settings')}"
         + (f"; tuned* = {stream['tuned'].get('env')}" if stream.get("tuned") else "")),
    )

    stage_rows = []
    for session, label in (("one_worker", "1 worker"), ("two_workers", "2 workers")):
        for name, p in stream[session]["phases"].items():
            st = p.get("stages") or {}
            row = [f"{label}, {name}"]
            for stage in ("decode", "restore", "ner", "produce"):
                s = st.get(stage) or {}
                row += [s.get("mean"), s.get("p95")]
            row += [(st.get("batch_size") or {}).get("mean"), (st.get("end_to_end(metric)") or {}).get("p99")]
            stage_rows.append(row)
    stages = Table(
        "Per-stage latency per article, ms (worker /metrics histograms)",
        ["run", "decode mean", "p95", "restore mean", "p95", "ner mean", "p95", "produce mean", "p95", "batch mean",
         "e2e p99 (metric)"],
        stage_rows,
        "p95 interpolated within histogram buckets (1, 2.5, 5, 10, 25, 50, 100, 250, 500 ms...); ner is the batch's "
        "NER time shared out by text length.",
    )

    mem_rows = []
    for session in ("one_worker", "two_workers"):
        for name, m in stream[session].get("memory", {}).items():
            mem_rows.append([f"worker {name}", m.get("processes"), m.get("pss_mib_median"), m.get("pss_mib_peak"),
                             m.get("rss_mib_peak")])
    for name, m in stream["passthrough"].get("memory", {}).items():
        mem_rows.append([name, m.get("processes"), m.get("pss_mib_median"), m.get("pss_mib_peak"), m.get("rss_mib_peak")])
    if stream.get("broker_rss_mib_peak") is not None:
        mem_rows.append(["embedded broker (tansu)", 1, None, None, stream["broker_rss_mib_peak"]])
    idle = [f"{k}: {stream[k]['idle_cpu_percent']}%" for k in ("one_worker", "two_workers", "fetch_wait_1500ms", "tuned")
            if (stream.get(k) or {}).get("idle_cpu_percent") is not None]
    memory = Table("Memory per worker (process and its children), MiB",
                   ["process", "processes", "median PSS", "peak PSS", "peak RSS (sum)"], mem_rows,
                   "PSS counts pages shared between a worker's processes once; RSS sums them per process. "
                   + (("CPU of an idle worker: " + ", ".join(idle)) if idle else ""))

    o, t = one["max"]["articles_per_s"], two["max"]["articles_per_s"]

    def busy(p: dict, n: int) -> float | None:
        cpu = p.get("process_cpu_s")
        return round(100 * cpu / p["seconds"] / n, 1) if cpu and p.get("seconds") else None

    scaling = Table(
        "Scaling (max rate, 4-partition topic)",
        ["workers", "articles/s", "words/s", "x one worker", "CPU ms/article", "core busy % per worker", "partitions"],
        [[1, o, one["max"]["words_per_s"], 1.0, one["max"].get("cpu_ms_per_article"), busy(one["max"], 1),
          str(stream["one_worker"].get("partitions"))],
         [2, t, two["max"]["words_per_s"], _ratio(t, o), two["max"].get("cpu_ms_per_article"), busy(two["max"], 2),
          str(stream["two_workers"].get("partitions"))]],
        f"machine: {stream.get('cpu_count')} cores; the broker, this benchmark's producer/consumer and any other "
        f"load share them (load average at the end of the burst: {two['max'].get('load_average')}); "
        "core busy % = worker CPU time / wall time of the burst",
    )
    return [throughput, stages, memory, scaling]


# --------------------------------------------------------------------------------------------- targets


def targets(library: dict | None, stream: dict | None) -> tuple[Table, dict]:
    rows, found = [], {}
    if library:
        r = library["ratios"]["restore_ner_over_ner_bare"]
        found["restore_ner_over_ner_bare"] = r
        rows.append([f"restore+NER >= {TARGETS['restore_ner_over_ner_bare']} x bare NER", f"{library['rows']['restore_ner']['words_per_s']:,.0f} / "
                     f"{library['rows']['ner_bare']['words_per_s']:,.0f} words/s", r, r >= TARGETS["restore_ner_over_ner_bare"]])
        r = library["ratios"].get("restore_ner_over_ner_bare_cpu")
        if r:
            found["restore_ner_over_ner_bare_cpu"] = r
            rows.append(["  same, per CPU-second", f"{library['rows']['restore_ner']['cpu_ms_per_article']:.0f} vs "
                         f"{library['rows']['ner_bare']['cpu_ms_per_article']:.0f} CPU ms/article", r,
                         r >= TARGETS["restore_ner_over_ner_bare"]])
    if stream:
        one = stream["one_worker"]["phases"]
        if library:
            lib_aps = library["rows"]["restore_ner"]["articles_per_s"]
            r = round(one["max"]["articles_per_s"] / lib_aps, 3)
            found["pipeline_over_library"] = r
            rows.append(["full pipeline >= 0.8 x library restore+NER",
                         f"{one['max']['articles_per_s']:.2f} / {lib_aps:.2f} articles/s", r, r >= TARGETS["pipeline_over_library"]])
            w_cpu = one["max"].get("cpu_ms_per_article")
            l_cpu = library["rows"]["restore_ner"].get("cpu_ms_per_article")
            if w_cpu and l_cpu:
                r = round(l_cpu / w_cpu, 3)
                found["pipeline_over_library_cpu"] = r
                rows.append(["  same, per CPU-second", f"{w_cpu:.0f} vs {l_cpu:.0f} CPU ms/article", r,
                             r >= TARGETS["pipeline_over_library"]])
        if "load_50" in one:
            p99 = one["load_50"]["latency_ms"]["p99"]
            found["p99_at_50_ms"] = p99
            rows.append(["p99 e2e <= 250 ms at 50% of max", f"{p99:.0f} ms at {one['load_50']['offered_rate']:.2f}/s",
                         None, p99 is not None and p99 <= TARGETS["p99_at_50_ms"]])
            fw = (stream.get("fetch_wait_1500ms") or {}).get("phases", {}).get("load_50")
            if fw:
                p99w = fw["latency_ms"]["p99"]
                found["p99_at_50_ms_fetch_wait_1500"] = p99w
                rows.append(["  same, consumer fetch wait 1500 ms (Faust's own)", f"{p99w:.0f} ms", None,
                             p99w is not None and p99w <= TARGETS["p99_at_50_ms"]])
            tl = (stream.get("tuned") or {}).get("phases", {}).get("load_50")
            if tl:
                p99t = tl["latency_ms"]["p99"]
                found["p99_at_50_ms_tuned"] = p99t
                rows.append([f"  same, tuned {stream['tuned'].get('env')}", f"{p99t:.0f} ms", None,
                             p99t is not None and p99t <= TARGETS["p99_at_50_ms"]])
        r = stream["ratios"]["two_over_one_worker"]
        found["two_over_one_worker"] = r
        rows.append(["two workers >= 1.7 x one worker",
                     f"{stream['two_workers']['phases']['max']['articles_per_s']:.2f} / {one['max']['articles_per_s']:.2f} articles/s"
                     f" on {stream.get('cpu_count')} cores", r, r is not None and r >= TARGETS["two_over_one_worker"]])
        mems = [m for s in ("one_worker", "two_workers") for m in stream[s].get("memory", {}).values()]
        peak = max((m.get("pss_mib_peak") or m.get("rss_mib_peak") for m in mems), default=None)
        rss = max((m.get("rss_mib_peak") for m in mems), default=None)
        found["worker_rss_mib"] = peak
        rows.append(["resident memory per worker <= 1.5 GB",
                     f"{peak:.0f} MiB peak PSS ({rss:.0f} MiB RSS summed over its processes)" if peak else "-", None,
                     peak is not None and peak <= TARGETS["worker_rss_mib"]])
    return Table("Targets (issue 7)", ["target", "measured", "ratio", "met"], rows), found


# --------------------------------------------------------------------------------------------- plot


def latency_plot(stream: dict, path: Path) -> Path | None:
    """Histogram of end-to-end latency per offered load (and the passthrough at 50%) as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    series = []
    for name in ("load_25", "load_50", "load_75"):
        p = stream["one_worker"]["phases"].get(name)
        if p and p["latencies"]:
            series.append((f"worker, {name[5:]}% of max ({p['offered_rate']:.1f}/s)", p["latencies"]))
    p = (stream.get("fetch_wait_1500ms") or {}).get("phases", {}).get("load_50")
    if p and p["latencies"]:
        series.append(("worker, 50%, consumer fetch wait 1500 ms", p["latencies"]))
    p = (stream.get("tuned") or {}).get("phases", {}).get("load_50")
    if p and p["latencies"]:
        series.append(("worker, 50%, tuned: batch timeout 5 ms, fetch wait 20 ms", p["latencies"]))
    p = stream["passthrough"]["phases"].get("load_50")
    if p and p["latencies"]:
        series.append(("aiokafka passthrough, same rate as 50%", p["latencies"]))
    if not series:
        return None
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    hi = max(max(v) for _, v in series)
    lo = max(1.0, min(min(v) for _, v in series))
    bins = np.geomspace(lo * 0.9, hi * 1.1, 40)
    for label, values in series:
        ax.hist(values, bins=bins, histtype="step", linewidth=1.6, label=f"{label}, p99 {np.percentile(values, 99):.0f} ms")
    ax.axvline(250, color="grey", linestyle="--", linewidth=1)
    ax.text(250, ax.get_ylim()[1] * 0.95, " 250 ms target", color="grey", va="top", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("end-to-end latency, ms (input produce -> enriched event sent)")
    ax.set_ylabel("articles")
    ax.set_title(f"unspun end-to-end latency, one worker, {stream.get('cpu_count')} cores")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
