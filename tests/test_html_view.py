"""The HTML view in a real browser: enriched events of the samples rendered by workers.html, opened
in headless Chromium, screenshotted, and the DOM Chromium built checked for the marks a reader relies
on: received words struck through next to the restored words (confidence on hover), entities
highlighted by label, and the restored text readable as it is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest


SAMPLES = Path(__file__).resolve().parents[1] / "workers" / "samples"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package `chromium`)")


def _chromium(profile: Path, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", *args,
    ]
    done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return done


@pytest.fixture(scope="module")
def restored(tmp_path_factory) -> tuple[list[dict], Path]:
    """`unspun restore --html PAGE` on two samples: the events it printed and the page it wrote."""
    path = tmp_path_factory.mktemp("html") / "page.html"
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", "restore", "--html", str(path),
         str(SAMPLES / "01-port.json"), str(SAMPLES / "04-clean.json")],
        capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    spun, clean = out
    # The page is only a meaningful check if the spun sample has edits and both have entities.
    assert spun["edits"] and spun["entities"] and clean["entities"] and not clean["edits"]
    return out, path


@pytest.fixture(scope="module")
def events(restored):
    return restored[0]


@pytest.fixture(scope="module")
def page(restored) -> Path:
    return restored[1]


@pytest.fixture(scope="module")
def dom(page, tmp_path_factory):
    """The document as Chromium parsed it (``--dump-dom``), as a BeautifulSoup tree."""
    from bs4 import BeautifulSoup

    done = _chromium(tmp_path_factory.mktemp("profile"), "--dump-dom", page.as_uri())
    return BeautifulSoup(done.stdout.decode("utf-8"), "html.parser")


def _visible(node) -> str:
    """Text a reader sees as the article, struck-through words left out, whitespace collapsed."""
    from bs4 import NavigableString

    parts = []
    for s in node.descendants:
        if isinstance(s, NavigableString) and s.find_parent("del") is None:
            parts.append(str(s))
    return " ".join("".join(parts).split())


def test_screenshot_is_a_png(page, tmp_path):
    shot = tmp_path / "page.png"
    _chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri())
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC)
    # IHDR: width and height of the image, big-endian, right after the signature and chunk header.
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 1600)
    # A blank page compresses to a few kilobytes; text and highlights make it much larger.
    assert len(data) > 20_000


def test_every_article_is_shown(dom, events):
    for ev in events:
        article = dom.find("article", id=ev["id"])
        assert article is not None, ev["id"]
        assert _visible(article.h1) == " ".join(ev["restored_title"].split())


def test_edits_show_received_and_restored_words_with_confidence(dom, events):
    for ev in events:
        article = dom.find("article", id=ev["id"])
        body = article.find_all("p")[-1]
        dels = body.find_all("del")
        assert len(dels) == len(ev["edits"]), ev["id"]
        for edit, d in zip(ev["edits"], dels):
            assert d.get_text() == edit["original"]
            if not edit["restored"]:  # a pure deletion: nothing restored, the hover is on the del
                assert f"confidence {edit['confidence']:.2f}" in d["title"]
                continue
            ins = d.find_next_sibling()
            assert ins is not None and ins.name == "ins", (edit, str(d.parent)[:300])
            shown, node = "", ins  # an entity boundary inside the restored words splits them into marks
            while node is not None and node.name == "ins" and len(shown) < len(edit["restored"]):
                shown, node = shown + node.get_text(), node.find_next_sibling()
            assert shown == edit["restored"]
            assert ins["title"] == f"{edit['kind']} edit, confidence {edit['confidence']:.2f}"
            assert float(ins["data-confidence"]) == pytest.approx(edit["confidence"])
    spun = dom.find("article", id="sample-01")
    assert len(spun.find_all("ins")) >= 5  # the spun sample really shows restorations


def test_reader_sees_the_restored_text(dom, events):
    for ev in events:
        body = dom.find("article", id=ev["id"]).find_all("p")[-1]
        assert _visible(body) == " ".join(ev["restored_text"].split()), ev["id"]


def test_entities_are_marked_by_label(dom, events):
    for ev in events:
        body = dom.find("article", id=ev["id"]).find_all("p")[-1]
        marks = body.find_all("mark")
        assert all("ent" in m["class"] for m in marks)
        labels = Counter(m["class"][1] for m in marks if m.has_attr("data-label"))
        # One labelled mark per entity mention, labelled as the event says.
        assert labels == Counter(e["label"] for e in ev["entities"]), ev["id"]
        for m in marks:
            if m.has_attr("data-label"):
                assert m["data-label"] == m["class"][1]
        # Every highlighted stretch lies inside a mention of that label.
        for m in marks:
            texts = [e["text"] for e in ev["entities"] if e["label"] == m["class"][1]]
            assert any(m.get_text().strip() in t for t in texts), (m, texts)
    # Sanity on the content: the people named in the samples are found as PERSON.
    persons = {m.get_text() for m in dom.select("mark.ent.PERSON")}
    assert {"Marisol Vega", "Grace Okafor"} <= persons


def test_page_is_self_contained(dom):
    assert not dom.find_all("script")
    for tag in dom.find_all(["link", "img", "iframe"]):
        pytest.fail(f"external resource in the page: {tag}")
