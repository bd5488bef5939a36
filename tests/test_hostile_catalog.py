"""A hostile catalog file: the fast (libyaml) reader must not expand an alias bomb; a big legitimate one
reads, with a size limit of its own."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import yaml

from curate.catalog import (
    FileEntry,
    Need,
    Project,
    VersionEntry,
    load_catalog_fast,
    load_project,
    load_project_fast,
    project_path,
    write_project,
)
from curate.errors import ValidationError
from curate.requests import read_request
from curate.yamlio import CATALOG_LIMIT, REQUEST_LIMIT
from tests.catalogs import make_repo


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


# -- size limits: a catalog file has its own (issue 13, item 13) -------------------------------------------


def _big_project(versions: int = 90, files: int = 40) -> Project:
    """What curate lock writes for a project with many versions of many wheels: well over 1 MiB."""
    return Project(
        name="bigproject",
        versions=tuple(
            VersionEntry(
                version=f"1.{v}",
                needed_by=(Need(request="2026-01-01-big", targets=("linux-x86_64-py3.12",), direct=True),),
                files=tuple(
                    FileEntry(
                        filename=f"bigproject-1.{v}-cp312-cp312-manylinux_2_{f}_x86_64.whl",
                        sha256=hashlib.sha256(f"{v}-{f}".encode()).hexdigest(),
                        size=1_000_000 + f,
                        upload_time="2026-01-01T00:00:00Z",
                        requires_python=">=3.10",
                        targets=("linux-x86_64-py3.12", "linux-x86_64-py3.13"),
                    )
                    for f in range(files)
                ),
            )
            for v in range(versions)
        ),
    )


def test_a_catalog_file_over_1_mib_reads(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    project = _big_project()
    path = project_path(root, project.name)
    # the YAML curate lock writes, through libyaml's emitter (ruamel's takes ten seconds for this one)
    path.write_text(yaml.dump(project.to_dict(), Dumper=yaml.CSafeDumper, sort_keys=False), "utf-8")
    assert path.stat().st_size > 1024 * 1024
    expected = project.to_dict()
    assert load_project(path).to_dict() == expected  # the strict reader (curate diff, ci, lock's checks)
    assert [p.to_dict() for p in load_catalog_fast(root).values()] == [expected]


def test_each_kind_of_file_has_its_limit_and_its_own_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo(tmp_path / "repo")
    project = _big_project(versions=3, files=3)
    write_project(root, project)
    path = project_path(root, project.name)
    small = dataclasses.replace(CATALOG_LIMIT, max_bytes=path.stat().st_size - 1)
    monkeypatch.setattr("curate.catalog.CATALOG_LIMIT", small)
    with pytest.raises(ValidationError) as caught:
        load_project_fast(path)
    (problem,) = caught.value.problems
    assert problem.message == f"file is {path.stat().st_size:,} bytes; the limit is {small.max_bytes:,}"
    assert "curate lock" in problem.hint
    assert "request" not in problem.hint
    # a request over 1 MiB is told to split itself
    request = root / "requests" / "2026-01-01-huge.yaml"
    request.write_text("title: x\n" + "# padding\n" * 120_000, "utf-8")
    _, problems = read_request(request, "requests/2026-01-01-huge.yaml", None, root=root)
    assert [p.hint for p in problems] == [REQUEST_LIMIT.hint]
    assert "split" in REQUEST_LIMIT.hint
