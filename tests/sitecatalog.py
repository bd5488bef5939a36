"""A small catalog repository for the site tests: fixture wheels, two requests, vetting data, hostile text.

Written straight from the fixture upstream (tests.catalogs.write_catalog), then given what `curate
lock` and `curate vet` would add: dependencies and needs "via" a parent, vetting results with a
finding and a waiver. One request's justification carries a ``<script>`` that sets a window flag.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from curate.catalog import Dependency, Need, Project, write_project
from curate.names import normalize
from curate.vetting import VettingRecord
from tests.catalogs import make_repo, vet_as_is, write_catalog
from tests.conftest import REPO
from tests.upstream import make_upstream

XSS_FLAG = "__curatePwned"
JUSTIFICATION = (
    f"Our build tools need these. <script>window.{XSS_FLAG} = 1</script> "
    f'<img src="x" onerror="window.{XSS_FLAG} = 2"> **not bold**'
)
REQUEST_ID = "2026-03-04-web-tools"
OLDER_REQUEST_ID = "2026-02-01-linux-batch"

PICKS = {
    "webapp": ["1.0", "2.0"],
    "httpish": ["1.1"],
    "certy": ["2024.1"],
    "wincolor": ["0.4"],
    "linuxonly": ["1.0"],
    "maconly": ["1.0"],
    "fastmath": ["1.5"],
    "newpy": ["0.9", "1.0"],
}


def _vetting(summary: str, license: str, **extra: object) -> VettingRecord:
    return VettingRecord.from_dict(
        {
            "summary": summary,
            "license": license,
            "license_source": "License-Expression",
            "home_page": extra.pop("home_page", ""),
            "requires_dist": [],
            "status": extra.pop("status", "pass"),
            "vetted": extra.pop("vetted", None),
            "findings": extra.pop("findings", []),
        }
    )


def build_catalog_repo(base: Path) -> Path:
    """A catalog repository under ``base``/repo with this project's mkdocs.yml and site/."""
    with make_upstream(base / "up") as up:
        root = make_repo(base / "repo", index_url=up.index_url)
        projects = write_catalog(
            root, up, {k: v for k, v in PICKS.items() if k != "linuxonly"}, request=REQUEST_ID
        )
        projects.update(write_catalog(root, up, {"linuxonly": ["1.0"]}, request=OLDER_REQUEST_ID))
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "site", root / "site")

    def update(name: str, fn: object) -> None:
        project = projects[normalize(name)]
        versions = tuple(fn(v) for v in project.versions)  # type: ignore[operator]
        write_project(root, Project(name=project.name, versions=versions))

    # webapp depends on httpish (and wincolor on Windows); httpish comes in as webapp's dependency
    update(
        "webapp",
        lambda v: dataclasses.replace(
            v,
            dependencies=(
                Dependency(name=normalize("httpish"), targets=v.targets),
                Dependency(name=normalize("wincolor"), targets=tuple(t for t in v.targets if "windows" in t)),
            ),
            vetting=_vetting(
                "A web framework <b>not bold</b>",
                "MIT",
                home_page="javascript:alert(1)" if v.version == "1.0" else "https://webapp.upstream.example/",
            ),
        ),
    )
    update(
        "httpish",
        lambda v: dataclasses.replace(
            v,
            needed_by=tuple(
                dataclasses.replace(n, direct=False, via=(normalize("webapp"),)) for n in v.needed_by
            ),
            dependencies=(Dependency(name=normalize("certy"), targets=v.targets),),
            vetting=_vetting(
                "HTTP for humans, roughly",
                "MIT",
                status="warn",
                vetted="2026-06-01",
                findings=[
                    {
                        "id": "GHSA-xxxx-yyyy-zzzz",
                        "kind": "vulnerability",
                        "severity": "high",
                        "file": "",
                        "message": "Header injection <script>window.__curatePwned = 3</script>",
                        "aliases": ["CVE-2026-0001"],
                        "fixed": ["1.3"],
                        "decision": "waived",
                        "waiver": {
                            "justification": "Only used against internal hosts",
                            "expires": "2099-01-31",  # never expires: the site is built with the real date
                        },
                    }
                ],
            ),
        ),
    )
    update(
        "wincolor",
        lambda v: dataclasses.replace(
            v,
            needed_by=(
                Need(request=REQUEST_ID, targets=v.targets, direct=False, via=(normalize("webapp"),)),
            ),
            vetting=_vetting("Windows terminal colours", "MIT"),
        ),
    )
    update("certy", lambda v: dataclasses.replace(v, vetting=_vetting("Certificates", "MPL-2.0")))
    update("linuxonly", lambda v: dataclasses.replace(v, vetting=_vetting("Linux only", "BSD-3-Clause")))
    (root / "requests" / f"{REQUEST_ID}.yaml").write_text(
        "title: Web tools for the <i>platform</i> team\n"
        "requested_by: platform@example.com\n"
        f"justification: '{JUSTIFICATION}'\n"
        "platforms: [linux, windows, macos]\n"
        'python: ["3.12"]\n'
        "compliance: [internal-use]\n"
        "packages:\n"
        "  - name: webapp\n"
        "    note: 'the <u>orders</u> service'\n"
        "  - name: certy\n"
        "  - name: fastmath\n"
        "  - name: maconly\n"
        "  - name: newpy\n"
        "remove:\n"
        "  - name: oldsdist\n"
        "    reason: replaced by fastmath\n",
        "utf-8",
    )
    (root / "requests" / f"{OLDER_REQUEST_ID}.yaml").write_text(
        "title: Linux batch tools\n"
        "requested_by: batch@example.com\n"
        "justification: The nightly batch jobs on the Linux cluster need this helper.\n"
        "platforms: [linux]\n"
        "packages:\n"
        "  - name: linuxonly\n",
        "utf-8",
    )
    # every version as curate vet records it (covering its files), so the site shows it; newpy not vetted yet
    vet_as_is(root, skip=("newpy",))
    return root
