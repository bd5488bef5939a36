"""Helpers for the lock and diff tests: a catalog repository pointing at the fixture upstream, requests."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from curate.cli import main
from tests.catalogs import make_repo


def lock_repo(root: Path, index_url: str, *, allow_sdist: bool = False, aarch64: bool = False) -> Path:
    """This project's config pointed at ``index_url``; without linux-aarch64 (the fixture has no such wheels)."""
    make_repo(root, index_url=index_url)
    path = root / "catalog" / "config.yaml"
    text = path.read_text("utf-8")
    if not aarch64:
        text = re.sub(r"  linux-aarch64:\n(?:    .*\n)+", "", text)
    if allow_sdist:
        text = text.replace("allow_sdist: false", "allow_sdist: true")
    path.write_text(text, "utf-8")
    return root


def write_request(
    root: Path,
    slug: str,
    packages: Sequence[tuple[str, str] | tuple[str, str, Sequence[str]]] = (),
    *,
    platforms: Sequence[str] = ("linux", "windows"),
    python: Sequence[str] = ("3.12",),
    remove: Sequence[tuple[str, str] | tuple[str, str, str]] = (),
    date: str = "2026-11-21",
) -> Path:
    lines = [
        f"title: Request {slug}",
        "requested_by: someone@example.com",
        "justification: The team needs these packages for its service; reviewed by the platform group.",
        f"platforms: {json.dumps(list(platforms))}",
        f"python: {json.dumps(list(python))}",
    ]
    if packages:
        lines.append("packages:")
        for entry in packages:
            lines.append(f"  - name: {entry[0]}")
            if entry[1]:
                lines.append(f"    version: {json.dumps(entry[1])}")
            if len(entry) > 2:
                lines.append(f"    platforms: {json.dumps(list(entry[2]))}")
    if remove:
        lines.append("remove:")
        for name, version, *why in remove:
            reason = why[0] if why else "superseded"
            lines += [f"  - name: {name}", f"    version: {json.dumps(version)}", f"    reason: {reason}"]
    path = root / "requests" / f"{date}-{slug}.yaml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def curate(root: Path, *args: str) -> int:
    return main(["-C", str(root), *args])


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under catalog/, by relative path."""
    folder = root / "catalog"
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
