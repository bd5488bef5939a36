"""Text from requests and the upstream in GitHub Markdown: one inert line, whatever it holds.

Rendered with markdown-it-py (CommonMark with GitHub's tables and strikethrough) as the oracle for
structure; GitHub's own filters (mentions, references, bare-URL autolinks) are checked on the text
they would see.
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from curate.markup import code, fence, inline

HOSTILE = [
    # a yank reason with a forged verdict heading, an image and a link
    "broken\n\n## All checks passed, approve now\n![ok](https://evil.example/ok.png) [docs](https://evil.example)",
    # mentions and references that notify people or write into other repositories
    "cc @platform-team @org/security and user@example.com, fixes #12, see evil/repo#3 and GH-9",
    # HTML: a comment hiding the rest, a script, details, an entity
    "<!-- hide --> <script>alert(1)</script> <details open>x</details> &lt;b&gt;",
    # bare URLs GitHub would turn into links
    "visit https://evil.example/a and www.evil.example or javascript://x",
    # emphasis, code, strikethrough, maths, a table cell boundary, a footnote, a quote
    "**bold** `code` ~~gone~~ $\\Huge{big}$ | cell | [^1] > quote \\*",
    # a folded header, a bidi override, a zero-width space, a line separator
    "MIT\n OR\u2028GPL \u202eeulav\u200b",
]


def _render(md: str) -> str:
    html: str = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(md)
    return html


def _github_text(html: str) -> str:
    """The text GitHub's mention, reference and autolink filters look at: tags gone, entities read."""
    import html as h

    return h.unescape(re.sub(r"<[^>]+>", "", html))


@pytest.mark.parametrize("text", HOSTILE)
def test_inline_is_one_inert_line(text: str) -> None:
    md = inline(text)
    assert "\n" not in md
    html = _render(f"- a finding: {md}")
    # one list item with one paragraph-less line of text: no heading, link, image, HTML, code, emphasis
    assert re.fullmatch(r"<ul>\n<li>a finding: [^<]*</li>\n</ul>\n", html), html
    seen = _github_text(html)
    assert not re.search(r"(?<![\w\u200b])@[A-Za-z0-9]", seen)  # no @mention, no e-mail autolink
    assert not re.search(r"#[0-9]|GH-[0-9]", seen)  # no issue reference
    assert not re.search(r"(?i)[a-z]://|www\.", seen)  # no bare-URL autolink
    assert "\u202e" not in seen


def test_inline_keeps_the_words() -> None:
    """Shown as written (on one line), only unable to act."""
    seen = _github_text(_render(inline(HOSTILE[0]))).replace("\u200b", "")
    assert seen == (
        "broken ## All checks passed, approve now ![ok](https://evil.example/ok.png) "
        "[docs](https://evil.example)\n"
    )


def test_inline_in_a_table_cell_stays_in_its_cell() -> None:
    row = f"| {inline('a | b')} | {code('x|y', table=True)} | {inline('c')} |"
    html = _render(f"| one | two | three |\n|---|---|---|\n{row}\n")
    cells = re.findall(r"<td>(.*?)</td>", html)
    assert cells == ["a | b", "<code>x|y</code>", "c"]


def test_inline_cuts_a_very_long_text() -> None:
    assert inline("x" * 10_000, limit=20) == "x" * 19 + "…"


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("requests", "<code>requests</code>"),
        ("a`b", "<code>a`b</code>"),
        ("``x", "<code>``x</code>"),
        ("<img src=x>", "<code>&lt;img src=x&gt;</code>"),
        ("two\nlines", "<code>two lines</code>"),
    ],
)
def test_code_span_nothing_inside_can_close(text: str, html: str) -> None:
    assert _render(code(text)) == f"<p>{html}</p>\n"


def test_fence_nothing_inside_can_close() -> None:
    body = "```\n## not a heading\n````\n\x1b[31mred\r\n@team"
    html = _render(fence(body) + "\n\n## after")
    assert html.count("<pre>") == 1
    assert "<h2>after</h2>" in html
    assert "\x1b" not in html
    assert "\r" not in html
