"""A hostile catalog file: the fast (libyaml) reader must not expand an alias bomb."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.catalog import load_project_fast
from curate.errors import ValidationError


def test_the_fast_reader_refuses_aliases_like_the_strict_one(tmp_path: Path) -> None:
    lines = ["name: bomb", "x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10**9 items
    lines.append("versions: []")
    path = tmp_path / "catalog" / "packages" / "bomb.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(ValidationError, match="anchor"):
        load_project_fast(path)


def test_an_alias_in_a_catalog_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog" / "packages" / "small.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("name: small\nx: &a [1]\ny: *a\nversions: []\n", "utf-8")
    with pytest.raises(ValidationError, match="anchor"):
        load_project_fast(path)
