"""PEP 691 content negotiation: which form of a ``/simple/`` page an ``Accept`` header gets.

One definition, two servers: ``curate serve`` runs :func:`negotiate`, and ``curate nginx-config``
compiles the same rules into nginx ``map`` blocks (:func:`curate.nginx.negotiation_maps`, from
:data:`RANGES`, :data:`MATCHING` and :data:`PREFERENCE`); the tests run one table of headers against
both, and a few thousand random headers against the two implementations.

There are three forms: the JSON (``application/vnd.pypi.simple.v1+json``, also asked for as
``...latest+json``), the HTML under its PEP 691 name (``application/vnd.pypi.simple.v1+html`` or
``...latest+html``) and plain ``text/html``. Each form's quality is that of the most specific media
range in the header that matches it (RFC 9110, 12.5.1): its own name, else ``application/*`` (the two
PEP 691 forms) or ``text/*`` (``text/html``), else ``*/*``. So an explicit ``q=0`` refuses a form even
when ``*/*`` is there. A name given twice counts where it first appears; ``v1`` counts before
``latest`` when both are given; a ``q`` that is not a valid quality value (``0`` to ``1``, at most three
decimals) counts as 0. The form with the highest quality wins; on a tie, the one matched by the more
specific range; then, among forms named exactly or through ``type/*``, JSON before the PEP 691 HTML
before ``text/html`` (what pip and uv rank first), and through ``*/*`` alone ``text/html`` first (what
a browser or ``curl`` should see). No form with a quality above 0: ``406 Not Acceptable``. No header
(or an empty one) is ``*/*``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal, get_args

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
HTML_UTF8 = "text/html; charset=utf-8"

Form = Literal["json", "v1html", "html"]
FORMS: tuple[Form, ...] = get_args(Form)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Range:
    """A media range that can match a form: its name (lower case) and how specific it is."""

    key: str  # a short name, used for nginx variable names
    media: str
    specificity: int  # 3 a full type, 2 type/*, 1 */*


RANGES: tuple[Range, ...] = (
    Range(key="jv1", media=JSON_TYPE, specificity=3),
    Range(key="jlatest", media="application/vnd.pypi.simple.latest+json", specificity=3),
    Range(key="hv1", media=HTML_TYPE, specificity=3),
    Range(key="hlatest", media="application/vnd.pypi.simple.latest+html", specificity=3),
    Range(key="text", media="text/html", specificity=3),
    Range(key="app", media="application/*", specificity=2),
    Range(key="textany", media="text/*", specificity=2),
    Range(key="any", media="*/*", specificity=1),
)
_BY_KEY = {r.key: r for r in RANGES}

# the ranges that can match each form, most specific first (the first one the header names counts)
MATCHING: dict[Form, tuple[str, ...]] = {
    "json": ("jv1", "jlatest", "app", "any"),
    "v1html": ("hv1", "hlatest", "app", "any"),
    "html": ("text", "textany", "any"),
}
# ties: higher wins; through */* alone text/html first, else JSON first
PREFERENCE: dict[int, dict[Form, int]] = {
    1: {"html": 3, "json": 2, "v1html": 1},
    0: {"json": 3, "v1html": 2, "html": 1},
    2: {"json": 3, "v1html": 2, "html": 1},
    3: {"json": 3, "v1html": 2, "html": 1},
}
# what each form is: the file served and its Content-Type
SERVED: dict[Form, tuple[str, str]] = {
    "json": ("index.json", JSON_TYPE),
    "v1html": ("index.html", HTML_TYPE),
    "html": ("index.html", HTML_UTF8),
}

QVALUE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


def quality(text: str) -> int:
    """A ``q`` parameter's value in thousandths; 0 when it is not a valid quality value."""
    text = text.strip()
    if not QVALUE.match(text):
        return 0
    whole, _, decimals = text.partition(".")
    return int(whole) * 1000 + int((decimals + "000")[:3])


def ranges_in(accept: str) -> dict[str, int]:
    """The quality of each range of :data:`RANGES` the header names (where it first names it)."""
    found: dict[str, int] = {}
    media_of = {r.media: r.key for r in RANGES}
    for element in accept.split(","):
        media, *params = element.split(";")
        key = media_of.get(media.strip().lower())
        if key is None or key in found:
            continue
        q = 1000
        for param in params:
            name, sep, value = param.partition("=")
            if sep and name.strip().lower() == "q":
                q = quality(value)
                break
        found[key] = q
    return found


def scores(accept: str | None) -> dict[Form, tuple[int, int, int]]:
    """Each form's (quality, specificity of the range that set it, tie-break preference)."""
    found = ranges_in(accept if accept and accept.strip() else "*/*")
    out: dict[Form, tuple[int, int, int]] = {}
    for form in FORMS:
        key = next((k for k in MATCHING[form] if k in found), None)
        q, spec = (found[key], _BY_KEY[key].specificity) if key is not None else (0, 0)
        out[form] = (q, spec, PREFERENCE[spec][form])
    return out


def negotiate(accept: str | None) -> tuple[str, str] | None:
    """(file, Content-Type) for an ``Accept`` header, or None: 406 Not Acceptable."""
    ranked = scores(accept)
    form = max(FORMS, key=lambda f: ranked[f])
    return SERVED[form] if ranked[form][0] > 0 else None
