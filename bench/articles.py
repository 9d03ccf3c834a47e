"""The benchmark article set: deterministic ~600-word news-style articles, half of them spun.

Every benchmark in ``bench/`` runs on the same set, built by :func:`generate`. Text comes from one of
two sources:

* built in (default): paragraphs composed from the sample originals in ``workers/samples/originals``
  and from sentence templates below, filled with invented people, organisations, places and numbers.
  Needs nothing outside the repository.
* ``shared=True`` (``--shared``): documents of the GUM Wikinews corpus in
  ``../shared/corpora/gum_wikinews`` (CC BY 2.5), cut or repeated to the target length.

Half of the articles (every odd index) are spun with the restoration package's spinner emulation
(``workers.restoration.emulate.spin``, rate 0.6); if that module cannot be imported, all articles are
clean and ``meta.spun`` is false. The same arguments always give the same articles.

    python bench/articles.py [--n 64] [--words 600] [--shared] [--out FILE.jsonl]
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "workers" / "samples" / "originals"
SHARED_WIKINEWS = ROOT.parent / "shared" / "corpora" / "gum_wikinews" / "gum_wikinews_news_interview_text.txt.gz"
SPIN_RATE = 0.6

# Invented names (fictional, like the bundled samples).
PEOPLE = [
    "Marisol Vega", "Daniel Okoro", "Helen Brandt", "Tomasz Nowicki", "Priya Raman", "George Whitfield",
    "Amara Lindqvist", "Samuel Ortega", "Claire Dubois", "Kenji Arakawa", "Fiona MacLeod", "Rafael Souza",
    "Ingrid Halvorsen", "Victor Mensah", "Laura Castellano", "Owen Pritchard",
]
ORGS = [
    "Northgate Energy", "the Calder Bay Port Authority", "Harwell Motors", "the Fenwick City Council",
    "Bluestone Bank", "the National Transport Agency", "Meridian Health", "Ashford University",
    "the Riverside Teachers Union", "Copperline Mining", "Westbrook Airlines", "the State Water Board",
]
PLACES = [
    "Calder Bay", "Fenwick", "Ashford", "Riverside", "Port Aldous", "Westbrook", "Millbrook", "Lakeview",
    "Ostend", "Brandon Falls", "Kingsport", "Elmira",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
TOPICS = [
    ("plant", "the new plant"), ("budget", "the budget"), ("bridge", "the bridge project"),
    ("contract", "the contract"), ("plan", "the plan"), ("merger", "the merger"), ("strike", "the strike"),
    ("tax", "the tax increase"), ("school", "the school reform"), ("hospital", "the hospital expansion"),
]
TITLES = [
    "{org} says {topic} will go ahead despite concerns",
    "{place} residents question {topic}",
    "{person} to lead {org} after surprise resignation",
    "Officials in {place} approve {topic}",
    "{org} reports higher profits as costs fall",
    "Workers in {place} vote on new contract",
    "{org} faces investigation over {topic}",
    "Storm damage forces closures across {place}",
]
SENTENCES = [
    "{person}, a spokesperson for {org}, said the company expected to complete {topic} by the end of the year.",
    "The decision was announced on {day} after a meeting that lasted more than {n} hours.",
    "Officials in {place} said thousands of residents would be affected by the change.",
    "According to a report published in {month}, costs rose by {pct} percent over the past three years.",
    "{org} said it had received hundreds of complaints from customers and would review its policy.",
    "Critics argue that {topic} was approved too quickly and without enough public debate.",
    "\"We want to make sure that every family is treated fairly,\" {person} told reporters on {day}.",
    "The government said it would spend about {money} million dollars on new equipment and training.",
    "Local business owners said the project had already helped them find new customers.",
    "The mayor of {place} said the city would hold a public hearing next month to discuss the plan.",
    "{person} said the agreement protected jobs and improved safety rules for workers.",
    "Shares of {org} fell {pct} percent in early trading before recovering later in the day.",
    "Police said no one was injured, but several roads in {place} remained closed on {day} evening.",
    "The company said it would hire about {n}0 new employees over the next two years.",
    "Experts warned that the problem could get worse if the government did not act soon.",
    "Many residents said they were worried about rising prices for food, fuel and housing.",
    "The report found that the number of students who passed the exam increased for the first time since {year}.",
    "{org} said the new rules would take effect on {month} 1 and would apply to all members.",
    "In a statement, {org} said it was working closely with the authorities to resolve the issue.",
    "A survey of more than {n},000 people found that most supported the proposal.",
    "Union leaders said they would continue to fight for higher wages and better working conditions.",
    "The minister said the country needed to invest more money in roads, schools and hospitals.",
    "Last year the firm reported a profit of {money} million dollars on sales of about {money2} billion dollars.",
    "Some members of the council said they were surprised by the decision and asked for more information.",
    "The hospital said it would open a new emergency department in {place} early next year.",
    "Scientists at {org} said the results were encouraging but that more research was needed.",
    "The airline said bad weather had forced it to cancel dozens of flights on {day} morning.",
    "{person} said the team had worked hard to reach an agreement that both sides could accept.",
    "The court ruled that the company had broken the law and ordered it to pay a large fine.",
    "Prices in {place} have risen sharply this year, and many families are struggling to pay their bills.",
    "The project is expected to create hundreds of jobs and bring millions of dollars to the region.",
    "Officials said the new system would make it easier for people to apply for help online.",
]
_FILL = re.compile(r"\{(\w+)\}")


def _count_words(text: str) -> int:
    return len(text.split())


def _fill(template: str, rng: random.Random, cast: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        slot = m.group(1)
        if slot in cast:
            return cast[slot]
        if slot == "n":
            return str(rng.randint(2, 12))
        if slot == "pct":
            return str(rng.randint(2, 40))
        if slot == "money":
            return str(rng.choice([12, 25, 40, 75, 120, 300, 450]))
        if slot == "money2":
            return str(rng.randint(2, 9))
        if slot == "year":
            return str(rng.randint(1998, 2019))
        if slot == "day":
            return rng.choice(DAYS)
        if slot == "month":
            return rng.choice(MONTHS)
        if slot == "person":
            return rng.choice(PEOPLE)
        if slot == "org":
            return rng.choice(ORGS)
        if slot == "place":
            return rng.choice(PLACES)
        raise KeyError(slot)

    s = _FILL.sub(one, template)
    return s[0].upper() + s[1:]


def _sample_paragraphs() -> list[str]:
    paragraphs = []
    for path in sorted(SAMPLES.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").strip().splitlines()
        paragraphs.extend(p.strip() for p in "\n".join(lines[1:]).split("\n\n") if p.strip())
    return paragraphs


def _builtin_article(i: int, words: int, rng: random.Random, samples: list[str]) -> tuple[str, str]:
    cast = {"person": rng.choice(PEOPLE), "org": rng.choice(ORGS), "place": rng.choice(PLACES)}
    cast["topic"] = rng.choice(TOPICS)[1]
    title = _fill(rng.choice(TITLES), rng, cast)
    paragraphs: list[str] = []
    total = 0
    use_sample = i % 3 == 0 and samples  # every third article quotes a sample original
    while total < words:
        if use_sample and len(paragraphs) == 2:
            para = samples[(i // 3) % len(samples)]
        else:
            k = rng.randint(3, 5)
            para = " ".join(_fill(t, rng, cast) for t in rng.sample(SENTENCES, k))
        paragraphs.append(para)
        total += _count_words(para)
    return title, _trim_words("\n\n".join(paragraphs), words)


def _trim_words(text: str, words: int) -> str:
    """Cut ``text`` at the first sentence end at or after ``words`` words (keeps paragraphs)."""
    count = 0
    for m in re.finditer(r"\S+", text):
        count += 1
        if count >= words and re.search(r"[.!?][\"”]?$", m.group()):
            return text[: m.end()]
    return text


def _wikinews_docs(path: Path = SHARED_WIKINEWS) -> list[tuple[str, list[str]]]:
    docs: list[tuple[str, list[str]]] = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        current: list[str] | None = None
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# doc "):
                current = []
                docs.append((line[6:], current))
            elif line.strip() and current is not None:
                current.append(line.strip())
    return [(name, sents) for name, sents in docs if len(sents) > 5]


def _shared_article(i: int, words: int, docs: list[tuple[str, list[str]]]) -> tuple[str, str]:
    name, sents = docs[i % len(docs)]
    title, body = sents[0], sents[2:]  # line 2 is the date
    out: list[str] = []
    total, j = 0, 0
    while total < words:
        s = body[j % len(body)]
        out.append(s)
        total += _count_words(s)
        j += 1
    paragraphs = [" ".join(out[k : k + 4]) for k in range(0, len(out), 4)]
    return title, "\n\n".join(paragraphs)


def spinner():
    """The spinner emulation function, or None when the restoration package does not provide it."""
    try:
        from workers.restoration.emulate import spin
    except Exception:  # noqa: BLE001 - not landed yet, or broken: benchmark clean text only
        return None
    return spin


def generate(n: int = 64, words: int = 600, seed: int = 7, shared: bool = False) -> list[dict]:
    """``n`` article dicts (``id``, ``title``, ``text``, ``source``, ``url``, ``meta``), same for same args.

    ``meta``: ``spun`` (bool), ``spun_edits`` (substitutions made), ``words`` (whitespace words of
    title + text). Odd indices are spun when the spinner emulation is available.
    """
    spin = spinner()
    docs = _wikinews_docs() if shared else []
    samples = _sample_paragraphs()
    articles = []
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        if shared:
            title, text = _shared_article(i, words, docs)
        else:
            title, text = _builtin_article(i, words, rng, samples)
        spun, edits = False, 0
        if spin is not None and i % 2 == 1:
            title, spans_t = spin(title, rate=SPIN_RATE, rng=random.Random(seed + 2 * i))
            text, spans = spin(text, rate=SPIN_RATE, rng=random.Random(seed + 2 * i + 1))
            spun, edits = True, len(spans) + len(spans_t)
        articles.append({
            "id": f"bench-{i:04d}",
            "title": title,
            "text": text,
            "source": "unspun-bench-wikinews" if shared else "unspun-bench",
            "url": f"https://example.org/bench/{i}",
            "meta": {"spun": spun, "spun_edits": edits, "words": _count_words(title) + _count_words(text)},
        })
    return articles


def describe(articles: list[dict]) -> dict:
    """Summary numbers of an article set, for the results JSON."""
    words = [a["meta"]["words"] for a in articles]
    return {
        "articles": len(articles),
        "spun": sum(a["meta"]["spun"] for a in articles),
        "spun_edits": sum(a["meta"]["spun_edits"] for a in articles),
        "words_total": sum(words),
        "words_mean": round(sum(words) / max(1, len(words)), 1),
        "chars_mean": round(sum(len(a["text"]) for a in articles) / max(1, len(articles)), 1),
    }


def main(argv: list[str] | None = None) -> None:
    import orjson

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--words", type=int, default=600)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--shared", action="store_true", help="text from ../shared/corpora/gum_wikinews")
    p.add_argument("--out", help="write JSON lines here (default: print a summary)")
    args = p.parse_args(argv)
    articles = generate(args.n, args.words, args.seed, args.shared)
    if args.out:
        with open(args.out, "wb") as f:
            for a in articles:
                f.write(orjson.dumps(a) + b"\n")
    print(orjson.dumps(describe(articles)).decode())


if __name__ == "__main__":
    main()
