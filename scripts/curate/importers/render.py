"""Write an imported request as YAML, with the source of every entry and the skipped list as comments."""

from __future__ import annotations

from collections.abc import Sequence

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, FoldedScalarString, LiteralScalarString

from curate.importers.merge import Package
from curate.importers.model import Skip
from curate.targets import OSName
from curate.yamlio import dumps

WRAP = 100


def _flow(items: Sequence[str], *, quote: bool = False) -> CommentedSeq:
    seq = CommentedSeq([DoubleQuotedScalarString(i) if quote else i for i in items])
    seq.fa.set_flow_style()
    return seq


def _text(value: str) -> str:
    """Long text as a folded block (wrapped at spaces), multi-line text as a literal block."""
    if "\n" in value.strip():
        literal: str = LiteralScalarString(value.strip() + "\n")
        return literal
    if len(value) <= WRAP - 20:
        return value
    folded = FoldedScalarString(value)
    positions: list[int] = []
    start = 0
    while len(value) - start > WRAP:
        cut = value.rfind(" ", start, start + WRAP)
        if cut <= start or value[cut - 1] == " " or value[cut + 1 : cut + 2] == " ":
            break
        positions.append(cut)
        start = cut + 1
    folded.fold_pos = positions
    text: str = folded
    return text


def _comment(pkg: Package) -> str:
    parts: list[str] = []
    if pkg.spellings:
        parts.append(", ".join(pkg.spellings))
    parts.append(", ".join(pkg.sources))
    if pkg.via:
        parts.append("via " + ", ".join(pkg.via))
    return "; ".join(parts)


def render_request(
    *,
    schema_ref: str,
    title: str,
    requested_by: str,
    justification: str,
    platforms: Sequence[OSName],
    python: Sequence[str],
    packages: Sequence[Package],
    skips: Sequence[Skip],
    sources: Sequence[str],
) -> str:
    top = CommentedMap()
    top["title"] = _text(title)
    top["requested_by"] = requested_by
    top["justification"] = _text(justification)
    top["platforms"] = _flow(platforms)
    top["python"] = _flow(python, quote=True)
    seq = CommentedSeq()
    for i, pkg in enumerate(packages):
        item = CommentedMap()
        item["name"] = pkg.name + (f"[{','.join(pkg.extras)}]" if pkg.extras else "")
        if pkg.specifier:
            item["version"] = DoubleQuotedScalarString(pkg.specifier)
        if pkg.platforms is not None:
            item["platforms"] = _flow(pkg.platforms)
        item.yaml_add_eol_comment(_comment(pkg), "name")
        seq.append(item)
        if pkg.notes:
            seq.yaml_set_comment_before_after_key(i, before="\n".join(pkg.notes), indent=2)
    top["packages"] = seq
    header = (
        f"# yaml-language-server: $schema={schema_ref}\n"
        f"# Imported by `curate import` from {', '.join(sources)}.\n"
    )
    body = dumps(top, header)
    if skips:
        lines = [f"# Skipped ({len(skips)}): not part of this request", *(f"#   {s.format()}" for s in skips)]
        body += "\n" + "\n".join(line.replace("\n", " ") for line in lines) + "\n"
    return body
