"""Static HTML building blocks: escaped tables, inlined PNGs, one self-contained page (no server,
no scripts, no external assets, so the file can be mailed or opened from a shared drive)."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.muted{color:#777;font-size:.9em}.ok{color:#2a7a2a}.bad{color:#b22}
pre{white-space:pre-wrap;max-height:12em;overflow:auto;background:#fafafa;padding:.4em;margin:0;font-size:.8em}
nav a{margin-right:1em}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(v: Any) -> str:
    if isinstance(v, Raw):
        return f"<td>{v.html}</td>"
    if isinstance(v, bool) or v is None:
        return f"<td>{esc('' if v is None else v)}</td>"
    if isinstance(v, int):
        return f'<td class="num">{v:,}</td>'
    if isinstance(v, float):
        if v != v:
            return '<td class="num"></td>'
        return f'<td class="num">{v:,.0f}</td>' if abs(v) >= 1000 else f'<td class="num">{v:.3g}</td>'
    return f"<td>{esc(v)}</td>"


class Raw:
    """Already-safe HTML for a table cell."""

    def __init__(self, html_text: str):
        self.html = html_text


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(path: Path, alt: str) -> str:
    """The PNG inlined as base64 (the file beside the report stays for slides and docs)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{esc(alt)}" title="{esc(path.name)}" src="data:image/png;base64,{data}">'


def link(href: str, text: str) -> Raw:
    """A table cell holding a link (both escaped)."""
    return Raw(f'<a href="{esc(href)}">{esc(text)}</a>')


def snippet(text: str, limit: int = 600) -> Raw:
    text = text if len(text) <= limit else text[:limit] + " …"
    return Raw(f"<pre>{esc(text)}</pre>")


def page(title: str, sections: list[tuple[str, str]], subtitle: str = "") -> str:
    anchors = [(f"s{i}", name) for i, (name, _) in enumerate(sections)]
    nav = "".join(f'<a href="#{a}">{esc(n)}</a>' for a, n in anchors)
    body = "".join(f'<h2 id="{a}">{esc(n)}</h2>{content}' for (a, n), (_, content) in zip(anchors, sections))
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>"
        f'<p class="muted">{esc(subtitle)}</p><nav>{nav}</nav>{body}</body></html>\n'
    )
