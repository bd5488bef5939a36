"""Licences from the metadata and the licence files' texts (curate.licenses, curate.licensefiles).

The texts in tests/data/licences/ are real projects' licence files; askalono names them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from curate.licensefiles import (
    Bundled,
    LicenceFile,
    bundle,
    identify,
    identify_file,
    is_licence_path,
    licence_file,
    read_licence_files,
    sdist_licence_members,
    wheel_licence_members,
)
from curate.licenses import license_of
from tests.wheels import Dist, build_sdist, build_wheel

TEXTS = Path(__file__).parent / "data" / "licences"
BSD = "License :: OSI Approved :: BSD License"
MIT_C = "License :: OSI Approved :: MIT License"
PSF_C = "License :: OSI Approved :: Python Software Foundation License"


def text(name: str) -> str:
    return (TEXTS / name).read_text("utf-8")


def lf(path: str, name: str) -> LicenceFile:
    """A licence file as vetting reads it: identified by askalono."""
    return licence_file(path, text(name).encode(), identify_file)


@pytest.mark.parametrize(
    ("name", "spdx"),
    [
        ("MIT-six.txt", "MIT"),
        ("Apache-2.0-requests.txt", "Apache-2.0"),  # askalono's best match is Pixar: no "Pixar" in it
        ("BSD-3-Clause-click.txt", "BSD-3-Clause"),
        ("ISC-requests-oauthlib.txt", "ISC"),
        ("BSD-2-Clause-pygments.txt", "BSD-2-Clause"),
    ],
)
def test_real_licence_texts_are_named_with_a_score(name: str, spdx: str) -> None:
    found = identify(text(name))
    assert found is not None
    assert (found.license, found.named) == (spdx, True)
    assert 0.9 <= found.score <= 1.0


def test_a_licence_that_resembles_one_is_not_named() -> None:
    found = identify(text("matplotlib.txt"))
    assert found is not None
    assert not found.named
    assert identify("   \n") is None


def test_a_file_of_several_licences_is_named_by_its_sections() -> None:
    whole, sections = identify_file(text("MIT+PSF-exceptiongroup.txt"))
    assert whole is not None
    assert not whole.named
    f = LicenceFile(path="LICENSE", sha256="", match=whole, sections=sections)
    assert f.licenses == ("MIT", "PSF-2.0")


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("pkg-1.0.dist-info/licenses/LICENSE", True),
        ("pkg-1.0.dist-info/licenses/vendor/foo/COPYING", True),
        ("pkg-1.0.dist-info/LICENSE.txt", True),
        ("pkg-1.0.dist-info/COPYING.LESSER", True),
        ("pkg-1.0.dist-info/NOTICE", True),
        ("pkg-1.0.dist-info/METADATA", False),
        ("pkg-1.0.dist-info/RECORD", False),
        ("pkg/LICENSE", False),  # inside the package: code's data, not the distribution's licence
        ("LICENSE", False),
    ],
)
def test_which_wheel_members_are_licence_files(member: str, expected: bool) -> None:
    assert is_licence_path(member) is expected


def test_license_file_entries_find_files_at_the_top_of_dist_info_too() -> None:
    names = ["p-1.dist-info/METADATA", "p-1.dist-info/LEGAL.md", "p/__init__.py"]
    assert wheel_licence_members(names, ["LEGAL.md"]) == ["p-1.dist-info/LEGAL.md"]
    sdist = ["p-1/PKG-INFO", "p-1/LICENSE", "p-1/docs/LICENSE", "p-1/legal/TERMS"]
    assert sdist_licence_members(sdist, ["legal/TERMS"]) == ["p-1/LICENSE", "p-1/legal/TERMS"]


def test_licence_files_are_read_from_a_wheel_and_an_sdist(tmp_path: Path) -> None:
    d = Dist(
        name="lic",
        version="1.0",
        license_expression=None,
        classifiers=[BSD],
        license_files=[("LICENSE.txt", text("BSD-3-Clause-click.txt")), ("NOTICE", "Made by us.\n")],
    )
    wheel = build_wheel(d, "py3-none-any", tmp_path)
    sdist = build_sdist(d, tmp_path)
    for path, entries in ((wheel, ["LICENSE.txt", "NOTICE"]), (sdist, [])):
        files = read_licence_files(path, path.name, entries)
        assert [(f.path, f.licenses, f.informational) for f in files] == [
            ("licenses/LICENSE.txt" if path == wheel else "LICENSE.txt", ("BSD-3-Clause",), False),
            ("licenses/NOTICE" if path == wheel else "NOTICE", (), True),
        ]
        assert files[0].sha256 == hashlib.sha256(text("BSD-3-Clause-click.txt").encode()).hexdigest()


def _of(
    *,
    expression: str | None = None,
    license: str | None = None,
    classifiers: tuple[str, ...] = (),
    files: tuple[LicenceFile, ...] = (),
) -> tuple[str, str, str, str]:
    field_match = identify(license) if license and "\n" in license.strip() else None
    info = license_of(
        license_expression=expression,
        license=license,
        classifiers=classifiers,
        files=files,
        field_match=field_match,
    )
    return info.expression, info.source, info.note, info.conflict


def test_a_family_classifier_decides_nothing_alone_and_a_licence_file_settles_it() -> None:
    assert _of(classifiers=(BSD,))[:2] == ("", "none")
    expression, source, note, conflict = _of(
        classifiers=(BSD,), files=(lf("LICENSE", "BSD-3-Clause-click.txt"),)
    )
    assert (expression, source, conflict) == ("BSD-3-Clause", "license-files", "")
    assert note.startswith("the classifiers say only 'BSD License' (a BSD licence: which one?); the licence")
    assert "LICENSE is BSD-3-Clause (0.9" in note or "LICENSE is BSD-3-Clause (1.00)" in note
    # 'License: BSD' is a family too
    assert _of(license="BSD", files=(lf("LICENSE", "BSD-2-Clause-pygments.txt"),))[:2] == (
        "BSD-2-Clause",
        "license-files",
    )
    assert _of(license="LGPL")[:2] == ("", "none")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("3-Clause BSD License", "BSD-3-Clause"),
        ("Apache 2.0 License", "Apache-2.0"),
        ("The Apache Software License, Version 2.0", "Apache-2.0"),
        ("BSD 3-Clause OR Apache-2.0", "BSD-3-Clause OR Apache-2.0"),
        ("MIT or Apache 2.0", "MIT OR Apache-2.0"),
        ("Dual licensed under MIT / Apache-2.0", "MIT OR Apache-2.0"),
        ("MPL-2.0 AND MIT", "MPL-2.0 AND MIT"),
        (
            "Dual Licensed - GNU AFFERO GPL 3.0 or Artifex Commercial License",
            "AGPL-3.0-only OR LicenseRef-Artifex-Commercial",
        ),
        ("BSD 3-Clause License\n\nCopyright (c) 2014, Someone\nAll rights reserved.\n", "BSD-3-Clause"),
    ],
)
def test_the_license_field_is_read_as_a_name_prose_or_a_first_line(field: str, expected: str) -> None:
    assert _of(license=field)[:2] == (expected, "License")


def test_a_whole_licence_text_in_the_field_is_named_by_the_matcher() -> None:
    assert _of(license=text("MIT-six.txt"))[:2] == ("MIT", "License")
    expression, source, note, _ = _of(license="Some Custom Terms v7")
    assert (expression, source) == ("", "none")
    assert note == "License 'Some Custom Terms v7' is not a known licence name"


def test_field_classifier_and_files_disagreeing_is_said_and_a_file_settles_it() -> None:
    # requests-oauthlib: ISC in the field, BSD in the classifier, an ISC LICENSE
    expression, source, note, conflict = _of(
        license="ISC", classifiers=(BSD,), files=(lf("LICENSE", "ISC-requests-oauthlib.txt"),)
    )
    assert (expression, source) == ("ISC", "license-files")
    assert conflict.startswith("License says ISC; the classifiers say only 'BSD License'")
    assert "LICENSE is ISC (0.9" in conflict
    # nothing settles it: unknown, and said
    expression, source, note, conflict = _of(license="ISC", classifiers=(BSD,))
    assert (expression, source, note) == ("", "none", "the metadata disagrees with itself")
    assert conflict.endswith("no licence file settles it")


def test_licence_files_that_contradict_the_metadata_leave_it_unknown() -> None:
    expression, source, note, conflict = _of(
        classifiers=(MIT_C,), files=(lf("LICENSE", "Apache-2.0-requests.txt"),)
    )
    assert (expression, source, note) == ("", "none", "the licence files are not what the metadata says")
    assert conflict == "the classifiers say MIT; LICENSE is Apache-2.0 (0.98)"


def test_matplotlib_psf_like_licence_is_not_taken_for_psf() -> None:
    expression, source, note, _ = _of(classifiers=(PSF_C,), files=(lf("LICENSE", "matplotlib.txt"),))
    assert (expression, source) == ("", "none")
    # its LICENSE is its own text, then the licences of the fonts and code it bundles
    assert note.startswith(
        "the classifiers say PSF-2.0, which no licence file confirms: LICENSE is no one licence: its own"
        " text names no licence (closest "
    )
    assert "AMS Fonts (OFL-1.1), BaKoMa Fonts (BaKoMa Fonts Licence), " in note


SCIPY_BUNDLE = (
    Bundled(name="OpenBLAS", license="BSD-3-Clause"),
    Bundled(name="LAPACK", license="BSD-3-Clause-Open-MPI"),
    Bundled(name="GCC runtime library", license="GPL-3.0-or-later WITH GCC-exception-3.1"),
    Bundled(name="libquadmath", license="LGPL-2.1-or-later"),
)


def test_the_software_a_licence_file_lists_as_bundled_is_read() -> None:
    """numpy's and scipy's wheels append a Name:/License: block per library they carry."""
    body = text("scipy-bundle.txt")
    head, listed = bundle(body)
    assert listed == SCIPY_BUNDLE
    assert head.startswith("Copyright (c) 2001-2002 Enthought")
    assert "Name:" not in head
    assert head.rstrip().endswith("can also bundle the following software\n(depending on the build):")
    found = lf("LICENSE.txt", "scipy-bundle.txt")
    assert found.licenses == ()  # no one licence
    assert found.own is not None
    assert (found.own.license, found.own.named) == ("BSD-3-Clause", True)
    assert found.bundled == SCIPY_BUNDLE
    assert bundle(text("BSD-3-Clause-click.txt")) == (text("BSD-3-Clause-click.txt"), ())
    assert lf("LICENSE", "BSD-3-Clause-click.txt").bundled == ()


def test_bundled_software_without_licence_texts_named_stays_needs_review_with_the_list() -> None:
    """scipy: a BSD classifier, and a licence file that is BSD-3-Clause followed by the licences of
    OpenBLAS, the GCC runtime, ...: unknown, and the note lists each with its licence."""
    listed = (
        "OpenBLAS (BSD-3-Clause), LAPACK (BSD-3-Clause-Open-MPI), GCC runtime library (GPL-3.0-or-later"
        " WITH GCC-exception-3.1), libquadmath (LGPL-2.1-or-later)"
    )
    expression, source, note, conflict = _of(
        classifiers=(BSD,), files=(lf("LICENSE.txt", "scipy-bundle.txt"),)
    )
    assert (expression, source, conflict) == ("", "none", "")
    assert note.startswith(
        "the classifiers say only 'BSD License' (a BSD licence: which one?); LICENSE.txt is no"
    )
    assert note.endswith(
        "one licence: its own text is BSD-3-Clause (0.95), and it lists the software bundled with it: "
        + listed
    )
    # the whole text's closest match (GPL-3.0-only, 0.88: the GPL's text is most of it) settles no
    # GPL classifier: it is several licences one after the other
    gpl = "License :: OSI Approved :: GNU General Public License (GPL)"
    assert _of(classifiers=(gpl,), files=(lf("LICENSE.txt", "scipy-bundle.txt"),))[:2] == ("", "none")
    # a License-Expression decides; what the file bundles beyond it is listed (numpy's wheels)
    expression, source, note, conflict = _of(
        expression="BSD-3-Clause", files=(lf("LICENSE.txt", "scipy-bundle.txt"),)
    )
    assert (expression, source, conflict) == ("BSD-3-Clause", "License-Expression", "")
    assert note.startswith("licences bundled beside those it names: LICENSE.txt is no one licence")
    assert note.endswith(listed)


def test_bundled_licences_become_an_and() -> None:
    files = (lf("LICENSE", "BSD-3-Clause-click.txt"), lf("vendor/six/LICENSE", "MIT-six.txt"))
    expression, source, note, conflict = _of(license="BSD-3-Clause", files=files)
    assert (expression, source, conflict) == ("BSD-3-Clause AND MIT", "license-files", "")
    assert note.startswith("License says BSD-3-Clause, and the licence files bundle more:")
    # one file holding the project's licence and a bundled one
    assert _of(classifiers=(MIT_C,), files=(lf("LICENSE", "MIT+PSF-exceptiongroup.txt"),))[:2] == (
        "MIT AND PSF-2.0",
        "license-files",
    )


def test_the_files_name_the_licence_when_the_metadata_names_none() -> None:
    assert _of(files=(lf("LICENSE", "MIT-six.txt"),))[:2] == ("MIT", "license-files")
    assert _of(license="See LICENSE file", files=(lf("LICENSE", "MIT-six.txt"),))[:2] == (
        "MIT",
        "license-files",
    )
    assert _of(license="Proprietary", files=(lf("LICENSE", "MIT-six.txt"),))[:2] == ("", "none")
    assert _of(files=(lf("LICENSE", "matplotlib.txt"),))[:2] == ("", "none")


def test_license_expression_decides_and_a_contradicting_file_is_said() -> None:
    expression, source, note, conflict = _of(
        expression="BSD-3-Clause",
        files=(lf("LICENSE", "BSD-3-Clause-click.txt"), lf("vendor/LICENSE", "MIT-six.txt")),
    )
    assert (expression, source, conflict) == ("BSD-3-Clause", "License-Expression", "")
    assert note == "licences bundled beside those it names: vendor/LICENSE is MIT (1.00)"
    expression, source, note, conflict = _of(expression="GPL-3.0-only", files=(lf("LICENSE", "MIT-six.txt"),))
    assert (expression, source) == ("GPL-3.0-only", "License-Expression")
    assert conflict == "License-Expression says GPL-3.0-only, but LICENSE is MIT (1.00)"
    # packaging.licenses normalises; deprecated ids become today's
    assert _of(expression="apache-2.0 OR mit")[0] == "Apache-2.0 OR MIT"
    assert _of(expression="GPL-2.0+")[0] == "GPL-2.0-or-later"
