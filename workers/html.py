"""A self-contained HTML page of enriched events, for people who would rather look than read.

Each edit shows the received words struck through and the restored words after them, with the
confidence on hover; entities are highlighted by label. No scripts, no external resources.
"""

from __future__ import annotations

from html import escape
from typing import Any, Iterable

_STYLE = """
body{font:16px/1.6 Georgia,serif;max-width:46em;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em} .meta{color:#666;font:13px sans-serif}
del{color:#b22;text-decoration:line-through} ins{color:#161;text-decoration:none;background:#e7f6e7}
mark.ent{border-radius:3px;padding:0 2px} mark.ent[data-label]::after{content:attr(data-label);font:10px sans-serif;margin-left:2px;color:#555}
mark.PERSON{background:#fde2c8} mark.ORG{background:#d7e8fb} mark.GPE{background:#d9f2d9} mark.LOC{background:#e6f7e6}
mark.DATE,mark.TIME{background:#eee} mark.MONEY,mark.PERCENT,mark.CARDINAL,mark.QUANTITY,mark.ORDINAL{background:#f3eefc}
mark.NORP,mark.FAC,mark.EVENT,mark.PRODUCT,mark.LAW,mark.WORK_OF_ART,mark.LANGUAGE{background:#fff3bf}
article{border-bottom:1px solid #ddd;padding-bottom:1.5em;margin-bottom:1.5em}
"""


def _restored_spans(edits: list[dict]) -> list[tuple[int, int, dict]]:
    """(start, end, edit) of each edit's restored words in the restored text."""
    spans, shift = [], 0
    for e in edits:
        start = e["start"] + shift
        spans.append((start, start + len(e["restored"]), e))
        shift += len(e["restored"]) - (e["end"] - e["start"])
    return spans


def render_text(restored: str, edits: list[dict], entities: list[dict]) -> str:
    """HTML of ``restored`` with ``edits`` (enriched-event edit dicts, offsets into the received text)
    and ``entities`` (mention dicts, offsets into ``restored``) marked up."""
    spans = _restored_spans(edits)
    cuts = {0, len(restored)}
    for s, e, _ in spans:
        cuts.update((s, e))
    for m in entities:
        cuts.update((m["start"], m["end"]))
    cuts = sorted(c for c in cuts if 0 <= c <= len(restored))
    out: list[str] = []
    i_edit = 0
    for a, b in zip(cuts, cuts[1:] + [None]):
        while i_edit < len(spans) and spans[i_edit][0] == a and (b is None or spans[i_edit][1] <= a):
            out.append(_deletion_html(spans[i_edit][2]))  # e.g. a spintax brace
            i_edit += 1
        if b is None:
            break
        piece = escape(restored[a:b])
        ent = next((m for m in entities if m["start"] <= a and b <= m["end"]), None)
        if ent:
            # An entity cut by an edit spans several marks; only its last one shows the label.
            label = escape(ent["label"])
            shown = f' data-label="{label}"' if b >= ent["end"] else ""
            piece = f'<mark class="ent {label}"{shown}>{piece}</mark>'
        if i_edit < len(spans) and spans[i_edit][0] <= a < spans[i_edit][1]:
            s, e, edit = spans[i_edit]
            if a == s:
                out.append(f'<del>{escape(edit["original"])}</del> ')
            out.append(f'<ins title="{escape(edit["kind"])} edit, confidence {edit["confidence"]:.2f}" data-confidence="{edit["confidence"]}">{piece}</ins>')
            if b >= e:
                i_edit += 1
        else:
            out.append(piece)
    return "".join(out).replace("\n", "<br>\n")


def _deletion_html(edit: dict) -> str:
    return f'<del title="{escape(edit["kind"])} edit, confidence {edit["confidence"]:.2f}">{escape(edit["original"])}</del>'


def render_page(events: Iterable[dict[str, Any]], title: str = "unspun: restored articles") -> str:
    """A complete HTML document (UTF-8 string) showing each enriched event in turn."""
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title><style>{_STYLE}</style></head><body>"]
    for ev in events:
        head = render_text(ev.get("restored_title") or "", ev.get("title_edits", []), [])
        parts.append(
            f'<article id="{escape(ev["id"])}"><h1>{head}</h1>'
            f'<p class=meta>id {escape(ev["id"])} · spin score {ev["spin_score"]:.2f} · {len(ev["edits"]) + len(ev.get("title_edits", []))} edits · {len(ev["entities"])} entity mentions</p>'
            f'<p>{render_text(ev["restored_text"], ev["edits"], ev["entities"])}</p></article>'
        )
    parts.append("</body></html>")
    return "\n".join(parts)
