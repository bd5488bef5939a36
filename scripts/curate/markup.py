"""Text from requests and the upstream, made safe as GitHub Markdown (pull-request comments, job summaries).

Everything a request or the upstream says (a yank reason, a summary, a licence header, a request id, a
waiver's justification) is data. In the review report it is shown as it is, on one line, and can do
nothing else: no heading, list, quote or table cell boundary; no HTML (``<img>``, ``<details>``,
comments); no image, link or footnote; no ``@mention``, team mention or issue reference (they notify
people and write into other repositories' timelines); no bare URL that GitHub would turn into a link;
no maths. Links in the report are only the ones curate writes itself.

- :func:`inline`: text for a sentence or a table cell: one line, ASCII punctuation that Markdown reads
  escaped with a backslash, ``& < >`` as entities, and a zero-width space (``&#8203;``, what Dependabot
  does) after ``@``, inside ``scheme://``, after ``www`` and between ``#`` and a number, so GitHub's
  mention, reference and autolink filters find nothing.
- :func:`code`: an identifier (a project name, a version) in a code span nothing inside can close.
- :func:`fence`: a multi-line block (a command's output) in a code fence nothing inside can close.
"""

from __future__ import annotations

import re

from curate.errors import one_line, strip_controls

ZWSP = "\u200b"  # written as &#8203;
# The ASCII punctuation that means something in the middle of a line (code, emphasis, strikethrough,
# links, images and footnotes all need a '[', table cells, maths), escaped with a backslash as
# CommonMark allows; what means something only at the start of a line ('#', '-', '+', '>', '1.')
# cannot be there, as the text is one line and never starts one.
_ESCAPED = frozenset("\\`*_[]|~$")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
MAX_INLINE = 500  # characters of one piece of data; a longer one is cut (with an ellipsis)

_MENTION = re.compile(r"@(?=[A-Za-z0-9_])")  # @user, @org/team, user@host
_SCHEME = re.compile(r"(?<=[A-Za-z0-9+.-]:)(?=//)")  # https://, ftp://, javascript://
_WWW = re.compile(r"(?i)(?<![A-Za-z0-9])(www)(?=\.)")
_REFERENCE = re.compile(r"(?i)(#|\bGH-)(?=[0-9])")  # #123, owner/repo#123, GH-123


def inline(text: object, *, limit: int = MAX_INLINE) -> str:
    """``text`` as inert Markdown on one line (see the module's docstring)."""
    line = one_line(str(text)).replace(ZWSP, "")
    if limit and len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    line = _MENTION.sub("@" + ZWSP, line)
    line = _SCHEME.sub(ZWSP, line)
    line = _WWW.sub(r"\1" + ZWSP, line)
    line = _REFERENCE.sub(r"\1" + ZWSP, line)
    out = []
    for ch in line:
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in _ESCAPED:
            out.append("\\" + ch)
        elif ch == ZWSP:
            out.append("&#8203;")
        else:
            out.append(ch)
    return "".join(out)


def code(text: object, *, table: bool = False) -> str:
    """``text`` (one line) as a code span: nothing in a code span is Markdown, HTML, a mention or a link.
    In a table cell (``table=True``) a ``|`` is escaped, as GitHub's tables need even inside code."""
    line = one_line(str(text))
    longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
    ticks = "`" * (longest + 1)
    if line.startswith(("`", " ")) or line.endswith(("`", " ")):
        line = f" {line} "
    if table:
        line = line.replace("|", "\\|")
    return f"{ticks}{line}{ticks}" if line else "` `"


def fence(text: str, lang: str = "text") -> str:
    """``text`` in a code fence that nothing inside it can close, its control characters dropped."""
    body = strip_controls(text.replace("\r\n", "\n")).rstrip()
    ticks = "```"
    while ticks in body:
        ticks += "`"
    return f"{ticks}{lang}\n{body}\n{ticks}"
