"""Write a catalog straight from the fixture upstream, without resolving.

For tests of the stages after ``curate lock`` (fetch, vet, index, site) that need a realistic
``catalog/`` without paying for a resolution: every file of the chosen versions is kept for the
targets of the config that can install it. End-to-end tests use the real ``curate lock`` instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from curate.catalog import FileEntry, Need, Project, VersionEntry, load_project, write_project
from curate.config import Config, load_config
from curate.names import normalize
from curate.vetting import FileEvidence, VettingRecord
from tests.conftest import REPO
from tests.upstream import Upstream, UpstreamFile


def make_repo(root: Path, *, index_url: str | None = None, extra_config: str = "") -> Path:
    """A catalog repository at ``root``: this project's config (pointing at ``index_url``), no requests."""
    (root / "catalog" / "packages").mkdir(parents=True, exist_ok=True)
    (root / "requests").mkdir(exist_ok=True)
    text = (REPO / "catalog" / "config.yaml").read_text("utf-8")
    # tests are offline: no advisory service (the tests of it start a fake one and say so)
    assert "    source: osv-api\n" in text
    text = text.replace("    source: osv-api\n", "    source: none\n")
    if index_url:
        text += f"\nupstream:\n  index_url: {index_url}\n"
    (root / "catalog" / "config.yaml").write_text(text + extra_config, "utf-8")
    return root


VETTED_ON = dt.date(2026, 1, 1)


def served_record(
    version: VersionEntry, config: Config, record: VettingRecord | None = None
) -> VettingRecord:
    """``record`` (default: a pass with nothing found) as ``curate vet`` would have written it for
    ``version`` under ``config``'s policy: covering exactly the sha256 of each of its files, so that the
    index and the site serve it (unless it blocks)."""
    base = record if record is not None else VettingRecord(status="pass")
    return dataclasses.replace(
        base,
        vetted=base.vetted or VETTED_ON,
        policy=config.vetting.digest(),
        files=tuple(
            FileEvidence(filename=f.filename, sha256=f.sha256, metadata_sha256=None)
            for f in sorted(version.files, key=lambda f: f.filename)
        ),
    )


def vet_as_is(root: Path, *, skip: Sequence[str] = ()) -> None:
    """Give every version of ``root``'s catalog (but the projects in ``skip``: not vetted yet) a record
    covering its files under its config's policy, keeping what a record already says (status, findings,
    summary): the catalog as served."""
    config = load_config(root)
    for path in sorted((root / "catalog" / "packages").glob("*.yaml")):
        if path.stem in skip:
            continue
        project = load_project(path)
        versions = tuple(
            dataclasses.replace(v, vetting=served_record(v, config, v.vetting)) for v in project.versions
        )
        write_project(root, dataclasses.replace(project, versions=versions))


def _serves(config: Config, f: UpstreamFile, target_ids: Sequence[str] | None) -> list[str]:
    out = []
    for t in config.all_targets():
        if target_ids is not None and t.id not in target_ids:
            continue
        if f.requires_python and not SpecifierSet(f.requires_python).contains(f"{t.python}.0"):
            continue
        if f.filename.endswith(".whl") and not t.accepts_wheel(f.filename):
            continue
        out.append(t.id)
    return out


def write_catalog(
    root: Path,
    upstream: Upstream,
    picks: Mapping[str, Sequence[str]],
    *,
    request: str = "2026-01-01-fixture",
    targets: Sequence[str] | None = None,
    include_sdists: bool = False,
    vetted: bool = False,
) -> dict[str, Project]:
    """Write ``catalog/packages`` for ``picks`` (project -> versions) from ``upstream``'s files.

    No URL is recorded (fetch finds the files on the upstream's pages). Each version is needed by
    ``request`` directly. ``vetted``: each version with a passing record covering its files, as
    ``curate vet`` writes one (:func:`served_record`), so that the index serves it.
    """
    config = load_config(root)
    projects: dict[str, Project] = {}
    for name, versions in picks.items():
        norm = canonicalize_name(name)
        entries = []
        for version in versions:
            files = [f for f in upstream.files[norm] if Version(f.version) == Version(version)]
            kept: list[FileEntry] = []
            served: set[str] = set()
            for f in sorted(files, key=lambda f: f.filename):
                if (
                    f.filename.endswith(".tar.gz")
                    and not include_sdists
                    and any(x.filename.endswith(".whl") for x in files)
                ):
                    continue
                ts = _serves(config, f, targets)
                if not ts:
                    continue
                served.update(ts)
                kept.append(
                    FileEntry(
                        filename=f.filename,
                        sha256=f.sha256,
                        size=f.size,
                        upload_time=f.upload_time,
                        requires_python=f.requires_python or "",
                        yanked=f.yanked,
                        targets=tuple(ts),
                    )
                )
            if not kept:
                continue
            entries.append(
                VersionEntry(
                    version=version,
                    requires_python=files[0].requires_python or "",
                    yanked=files[0].yanked,
                    needed_by=(Need(request=request, targets=tuple(sorted(served)), direct=True),),
                    files=tuple(kept),
                )
            )
        if vetted:
            entries = [dataclasses.replace(v, vetting=served_record(v, config)) for v in entries]
        project = Project(name=upstream.names[norm], versions=tuple(entries))
        write_project(root, project)
        projects[normalize(name)] = project
    return projects


def copy_repo(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
