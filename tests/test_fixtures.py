"""The fixtures themselves: real wheels that pip's and packaging's parsers accept, and a catalog."""

from __future__ import annotations

import zipfile
from pathlib import Path

from packaging.metadata import Metadata
from packaging.utils import parse_wheel_filename

from curate.catalog import load_catalog
from curate.names import normalize
from tests.catalogs import make_repo, write_catalog
from tests.upstream import make_upstream


def test_wheels_carry_valid_metadata(tmp_path: Path) -> None:
    up = make_upstream(tmp_path / "up")
    wheels = [f for files in up.files.values() for f in files if f.filename.endswith(".whl")]
    assert len(wheels) >= 12
    for f in wheels:
        name, version, _, _ = parse_wheel_filename(f.filename)
        with zipfile.ZipFile(f.path) as zf:
            assert zf.testzip() is None
        assert f.metadata is not None
        meta = Metadata.from_email(f.metadata, validate=True)
        assert (meta.name.lower(), meta.version) == (name, version)


def test_write_catalog_keeps_only_installable_files(tmp_path: Path) -> None:
    with make_upstream(tmp_path / "up") as up:
        root = make_repo(tmp_path / "repo", index_url=up.index_url)
        write_catalog(root, up, {"wincolor": ["0.4"], "fastmath": ["1.5"], "newpy": ["1.0"]})
    catalog = load_catalog(root)
    (win,) = catalog[normalize("wincolor")].versions
    assert {t.split("-py")[0] for t in win.targets} == {"windows-amd64"}
    (fast,) = catalog[normalize("fastmath")].versions
    assert sorted(f.filename for f in fast.files) == [
        "fastmath-1.5-py3-none-macosx_11_0_arm64.whl",
        "fastmath-1.5-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "fastmath-1.5-py3-none-win_amd64.whl",
    ]
    (newpy,) = catalog[normalize("newpy")].versions
    assert all(t.endswith(("py3.12", "py3.13")) for t in newpy.targets)
