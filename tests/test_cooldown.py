"""The release cooldown: uv's exclude-newer from the day a request is resolved as of, too-new pins refused
on their line, dated waivers for a security fix, files added to old releases left out, what was held
back (printed, recorded in lock.json, in the review report), and re-locks that reproduce."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.catalog import load_catalog
from curate.cli import main
from curate.config import Waiver
from curate.cooldown import (
    Cooldown,
    HeldBack,
    exact_version,
    newer_without,
    parse_upload_time,
    released,
    too_new_text,
    too_new_waiver,
)
from curate.diff import compare, render_markdown, render_text
from curate.fetch import fetch_catalog
from curate.lockstate import LockState, RequestState, read_state
from curate.names import NormalizedName
from curate.resolve import Pin, uv_command, uv_env
from tests.lockutil import curate, lock_repo, snapshot, write_request
from tests.upstream import LINUX, WIN, Upstream
from tests.wheels import Dist

AS_OF = "2026-11-20"  # cutoff with the 7-day cooldown: 2026-11-13T00:00:00Z
OLD = "2026-10-01T12:00:00Z"
RECENT = "2026-11-18T09:30:00Z"  # too new on AS_OF; eligible on 2026-11-26

DISTS = [
    Dist(name="fresh", version="1.0", upload_time=OLD, summary="Released long ago"),
    Dist(name="fresh", version="1.1", upload_time=RECENT, summary="Released two days ago"),
    Dist(name="usesfresh", version="1.0", requires_dist=["fresh>=1.0"], upload_time=OLD),
    # an old release, to which a Windows wheel was added two days ago (a stolen upload token would)
    Dist(name="addedwheel", version="1.0", wheel_tags=[LINUX], upload_time=OLD),
    Dist(name="addedwheel", version="1.0", wheel_tags=[WIN], sdist=False, upload_time=RECENT),
    Dist(name="undated", version="1.0", upload_time=""),
]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    up = Upstream(tmp_path_factory.mktemp("upstream"))
    up.add(*DISTS)
    with up:
        yield up


@pytest.fixture(autouse=True)
def _uv_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))
    monkeypatch.setenv(
        "UV_EXCLUDE_NEWER", "2999-01-01T00:00:00Z"
    )  # curate's policy wins over the environment


@pytest.fixture
def repo(tmp_path: Path, upstream: Upstream) -> Path:
    return lock_repo(tmp_path / "repo", upstream.index_url)


def set_config(repo: Path, old: str, new: str) -> None:
    path = repo / "catalog" / "config.yaml"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")


def waive(repo: Path, project: str, versions: str, expires: str) -> None:
    set_config(
        repo,
        "  waivers: []\n",
        "  waivers:\n"
        f"    - id: too-new\n      project: {project}\n      versions: '{versions}'\n"
        f"      justification: fixes CVE-2026-0001\n      expires: {expires}\n",
    )


def locked(repo: Path) -> dict[str, list[str]]:
    return {name: [v.version for v in p.sorted_versions()] for name, p in load_catalog(repo).items()}


# -- the pieces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "uploaded", "admitted", "eligible"),
    [
        (7, "2026-11-12T23:59:59Z", True, "2026-11-20"),
        (7, "2026-11-13T00:00:00Z", False, "2026-11-21"),  # the cutoff itself is too new (uv: "before")
        (7, RECENT, False, "2026-11-26"),
        (7, "2026-11-18T09:30:00+02:00", False, "2026-11-26"),  # an offset, read as UTC 07:30
        (1, "2026-11-18T23:00:00Z", True, "2026-11-20"),
        (0, "2026-11-20T10:00:00Z", True, "2026-11-21"),  # no cooldown: everything is admitted
    ],
)
def test_cutoff_and_eligible_day(days: int, uploaded: str, admitted: bool, eligible: str) -> None:
    cooldown = Cooldown(days=days, as_of=dt.date(2026, 11, 20))
    assert cooldown.admits(uploaded) is admitted
    when = parse_upload_time(uploaded)
    assert when is not None
    assert cooldown.eligible_on(when).isoformat() == eligible
    if days and not admitted:  # on its eligible day, and not the day before
        day = dt.date.fromisoformat(eligible)
        assert Cooldown(days=days, as_of=day).admits(uploaded)
        assert not Cooldown(days=days, as_of=day - dt.timedelta(days=1)).admits(uploaded)


def test_uv_limits() -> None:
    cooldown = Cooldown(days=7, as_of=dt.date(2026, 11, 20))
    assert cooldown.exclude_newer() == "2026-11-13T00:00:00Z"
    assert cooldown.horizon() == "2026-11-20T00:00:00Z"
    assert cooldown.lifted() == "2026-11-21T00:00:00Z"
    assert Cooldown(days=0, as_of=dt.date(2026, 11, 20)).exclude_newer() is None
    assert not Cooldown(days=7, as_of=dt.date(2026, 11, 20)).admits("")  # undated: cannot be admitted
    cmd = uv_command(
        uv="uv",
        python_version="3.12",
        index_url=None,
        allow_build=False,
        exclude_newer="2026-11-13T00:00:00Z",
        exclude_newer_packages={"fresh": "2026-11-21T00:00:00Z"},
    )
    assert cmd[cmd.index("--exclude-newer") + 1] == "2026-11-13T00:00:00Z"
    assert cmd[cmd.index("--exclude-newer-package") + 1] == "fresh=2026-11-21T00:00:00Z"
    env = uv_env({"UV_EXCLUDE_NEWER": "2999-01-01", "UV_EXCLUDE_NEWER_PACKAGE": "x=2999-01-01", "A": "1"})
    assert env == {"A": "1", "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}


@pytest.mark.parametrize(
    ("specifier", "version"),
    [
        ("==1.1", "1.1"),
        ("===1.1", "1.1"),
        (" == 2.0.1 ", "2.0.1"),
        ("==1.*", None),
        (">=1,<2", None),
        ("", None),
    ],
)
def test_exact_version(specifier: str, version: str | None) -> None:
    assert exact_version(specifier) == version


def test_too_new_waiver_takes_the_valid_one_and_tells_an_expired_one() -> None:
    def w(versions: str, expires: str, wid: str = "too-new") -> Waiver:
        return Waiver(
            id=wid,
            project="Fresh",
            versions=versions,
            justification="x",
            expires=dt.date.fromisoformat(expires),
        )

    day = dt.date(2026, 11, 20)
    valid, expired = w("==1.1", "2026-12-31"), w("==1.1", "2026-11-19")
    assert too_new_waiver([expired, valid], "fresh", "1.1", on=day) == (valid, None)
    assert too_new_waiver([expired], "fresh", "1.1", on=day) == (None, expired)
    assert too_new_waiver(
        [w(">=2", "2026-12-31"), w("", "2026-12-31", "yanked")], "fresh", "1.1", on=day
    ) == (
        None,
        None,
    )


def test_newer_without_and_released() -> None:
    def pin(name: str, version: str) -> Pin:
        return Pin(name=NormalizedName(name), version=version)

    cooled = [pin("fresh", "1.0"), pin("certy", "1"), pin("newpy", "0.9"), pin("newpy", "1.0")]
    uncooled = [
        pin("fresh", "1.1"),
        pin("certy", "1"),
        pin("newpy", "0.9"),
        pin("newpy", "1.0"),
        pin("extra", "3"),
    ]
    assert newer_without(cooled, uncooled) == {"fresh": ("1.1", "1.0"), "extra": ("3", "")}
    files = [DatedFile("a.whl", RECENT), DatedFile("a.tar.gz", OLD), DatedFile("b.whl", "")]
    assert released(files) == parse_upload_time(OLD)
    assert released([DatedFile("b.whl", "")]) is None


class DatedFile:
    def __init__(self, filename: str, upload_time: str) -> None:
        self.filename, self.upload_time = filename, upload_time


def test_too_new_text_names_the_newest_file_of_an_old_release() -> None:
    cooldown = Cooldown(days=7, as_of=dt.date(2026, 11, 20))
    assert too_new_text([DatedFile("a.tar.gz", OLD)], cooldown) is None
    assert too_new_text([DatedFile("a.whl", RECENT)], Cooldown(days=0, as_of=cooldown.as_of)) is None
    assert too_new_text([DatedFile("a.whl", RECENT)], cooldown) == (
        "uploaded 2026-11-18, within the 7-day release cooldown (vetting.min_release_age_days); "
        "eligible on 2026-11-26"
    )
    text = too_new_text([DatedFile("a.tar.gz", OLD), DatedFile("a-win.whl", RECENT)], cooldown)
    assert text is not None
    assert text.endswith("(1 of its 2 files are that new, the newest a-win.whl)")
    # the same text on every day until it is eligible: a waived version's record does not churn
    later = Cooldown(days=7, as_of=dt.date(2026, 11, 25))
    assert too_new_text([DatedFile("a.whl", RECENT)], later) == too_new_text(
        [DatedFile("a.whl", RECENT)], cooldown
    )


# -- the lock -------------------------------------------------------------------------------------------


def test_a_new_release_is_held_back_and_the_day_recorded(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_request(repo, "svc", [("fresh", ""), ("usesfresh", "")])
    assert curate(repo, "lock", "--as-of", AS_OF) == 0
    err = capsys.readouterr().err
    assert (
        "    held back by the release cooldown: fresh 1.1 (uploaded 2026-11-18, eligible on 2026-11-26); locked 1.0"
        in err
    )
    assert locked(repo)["fresh"] == ["1.0"]
    state = json.loads((repo / "catalog" / "lock.json").read_text("utf-8"))
    (request,) = state["requests"].values()
    assert request["as_of"] == AS_OF
    assert request["held_back"] == [
        {
            "name": "fresh",
            "version": "1.1",
            "locked": "1.0",
            "uploaded": "2026-11-18",
            "eligible": "2026-11-26",
        }
    ]
    # locking again changes nothing, whatever the day
    before = snapshot(repo)
    assert curate(repo, "lock") == 0
    assert snapshot(repo) == before
    # on the day it is eligible, an upgrade takes it; nothing is held back any more
    assert curate(repo, "lock", "--as-of", "2026-11-26", "--upgrade-package", "fresh") == 0
    assert locked(repo)["fresh"] == ["1.0", "1.1"]  # 1.0 stays, superseded (the catalog is additive)
    assert load_catalog(repo)[NormalizedName("fresh")].sorted_versions()[0].superseded
    state = json.loads((repo / "catalog" / "lock.json").read_text("utf-8"))
    (request,) = state["requests"].values()
    assert (request["as_of"], request["held_back"]) == ("2026-11-26", [])


def test_a_too_new_exact_pin_is_refused_on_its_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_request(repo, "fix", [("certy", ""), ("fresh", "==1.1")])
    before = snapshot(repo)
    assert curate(repo, "lock", "--as-of", AS_OF) == 1
    err = capsys.readouterr().err
    line = path.read_text("utf-8").splitlines().index("  - name: fresh") + 1
    assert (
        f"requests/2026-11-21-fix.yaml:{line}: fresh 1.1 is too new (too-new): uploaded 2026-11-18, and the "
        "release cooldown takes a version 7 day(s) after its upload (vetting.min_release_age_days); it becomes "
        "eligible on 2026-11-26"
    ) in err
    assert "id: too-new, project: fresh, versions: '==1.1'" in err
    assert snapshot(repo) == before  # nothing written


def test_a_dated_waiver_lets_a_security_fix_through_and_vet_records_it(
    repo: Path, upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_request(repo, "fix", [("fresh", "==1.1"), ("usesfresh", "")])
    waive(repo, "fresh", "==1.1", "2026-12-31")
    assert curate(repo, "lock", "--as-of", AS_OF) == 0
    assert locked(repo)["fresh"] == ["1.1"]
    assert "held back" not in capsys.readouterr().err
    # vet records the finding, waived, with the waiver; once eligible there is none
    cache = tmp_path / "cache"
    fetch_catalog(repo, env={}, cache_dir=cache, jobs=2)
    vet = ["-C", str(repo), "vet", "--cache-dir", str(cache), "-j", "1"]
    assert main([*vet, "--today", AS_OF]) == 0
    record = load_catalog(repo)[NormalizedName("fresh")].versions[0].vetting
    assert record is not None
    assert record.status == "pass"
    (finding,) = record.findings
    assert (finding.kind, finding.decision, finding.message) == (
        "too-new",
        "waived",
        "uploaded 2026-11-18, within the 7-day release cooldown (vetting.min_release_age_days); "
        "eligible on 2026-11-26",
    )
    assert finding.waiver is not None
    assert finding.waiver.justification == "fixes CVE-2026-0001"
    assert main([*vet, "--today", "2026-11-26"]) == 0
    record = load_catalog(repo)[NormalizedName("fresh")].versions[0].vetting
    assert record is not None
    assert record.findings == ()
    # without the waiver, vetting warns while it is too new (the lock is what keeps such versions out);
    # a policy that lists too-new under block blocks it
    set_config(repo, "expires: 2026-12-31", "expires: 2026-11-01")
    assert main([*vet, "--today", "2026-11-21"]) == 0
    record = load_catalog(repo)[NormalizedName("fresh")].versions[0].vetting
    assert record is not None
    assert (record.status, record.findings[0].kind) == ("warn", "too-new")
    set_config(repo, "wheel-differs-from-sdist]", "wheel-differs-from-sdist, too-new]")
    set_config(repo, "lookalike, too-new]", "lookalike]")
    assert main([*vet, "--today", "2026-11-21"]) == 1
    record = load_catalog(repo)[NormalizedName("fresh")].versions[0].vetting
    assert record is not None
    assert record.status == "block"


def test_an_expired_waiver_lets_nothing_through(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_request(repo, "fix", [("fresh", "==1.1")])
    waive(repo, "fresh", "==1.1", "2026-11-19")
    assert curate(repo, "lock", "--as-of", AS_OF) == 1
    assert "the too-new waiver naming it expired on 2026-11-19" in capsys.readouterr().err


def test_a_wheel_added_to_an_old_release_is_left_out(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_request(repo, "win", [("addedwheel", "")])
    assert curate(repo, "lock", "--as-of", AS_OF) == 1
    err = capsys.readouterr().err
    assert (
        "addedwheel 1.0 has no wheel for windows-amd64 / Python 3.12 (the upstream's wheels are for "
        "manylinux2014_x86_64, manylinux_2_17_x86_64; it also has an sdist); the release cooldown left out "
        "addedwheel-1.0-py3-none-win_amd64.whl (uploaded 2026-11-18, eligible on 2026-11-26)"
    ) in err
    # on Linux alone the old wheel serves; a week later the Windows wheel is taken too
    write_request(repo, "win", [("addedwheel", "", ["linux"])])
    assert curate(repo, "lock", "--as-of", AS_OF) == 0
    files = [f.filename for v in load_catalog(repo)[NormalizedName("addedwheel")].versions for f in v.files]
    assert files == ["addedwheel-1.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"]
    write_request(repo, "win", [("addedwheel", "")])
    assert curate(repo, "lock", "--as-of", "2026-11-26") == 0


def test_undated_files_cannot_pass_the_cooldown(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_request(repo, "old", [("undated", "==1.0")])
    assert curate(repo, "lock", "--as-of", AS_OF) == 1
    err = capsys.readouterr().err
    line = path.read_text("utf-8").splitlines().index("  - name: undated") + 1
    assert f"requests/2026-11-21-old.yaml:{line}: undated 1.0: the upstream gives no upload time" in err
    assert "vetting.min_release_age_days: 0" in err
    set_config(repo, "min_release_age_days: 7", "min_release_age_days: 0")
    assert curate(repo, "lock", "--as-of", AS_OF) == 0


def test_zero_days_turns_it_off_and_a_change_of_days_makes_the_lock_stale(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_request(repo, "svc", [("fresh", "")])
    assert curate(repo, "lock", "--as-of", AS_OF) == 0
    assert curate(repo, "lock", "--check") == 0
    set_config(repo, "min_release_age_days: 7", "min_release_age_days: 0")
    capsys.readouterr()
    assert curate(repo, "lock", "--check") == 1
    assert "release cooldown changed since the last lock" in capsys.readouterr().err
    assert curate(repo, "lock", "--as-of", AS_OF, "--upgrade") == 0
    assert locked(repo)["fresh"] == ["1.0", "1.1"]  # 1.0 stays, superseded (the catalog is additive)
    assert read_state(repo) is not None
    assert all(r.held_back == () for r in read_state(repo).requests.values())  # type: ignore[union-attr]
    # a too-new waiver is part of what the lock depends on
    waive(repo, "fresh", "==1.1", "2026-12-31")
    assert curate(repo, "lock", "--check") == 1


def test_a_version_the_catalog_has_is_kept(repo: Path) -> None:
    """Locked before the cooldown was set (so vetted and served already): keeping it is not held back."""
    set_config(repo, "min_release_age_days: 7", "min_release_age_days: 0")
    write_request(repo, "svc", [("fresh", "")])
    assert curate(repo, "lock", "--as-of", AS_OF) == 0
    assert locked(repo)["fresh"] == ["1.1"]
    set_config(repo, "min_release_age_days: 0", "min_release_age_days: 7")
    assert curate(repo, "lock", "--as-of", AS_OF) == 0  # the config changed: resolved again
    assert locked(repo)["fresh"] == ["1.1"]
    write_request(repo, "more", [("usesfresh", "")], date="2026-11-22")  # a new request shares it
    assert curate(repo, "lock", "--as-of", AS_OF) == 0
    assert locked(repo)["fresh"] == ["1.1"]
    state = read_state(repo)
    assert state is not None
    assert [r.held_back for r in state.requests.values()] == [(), ()]


def test_a_day_after_today_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_request(repo, "svc", [("fresh", "")])
    assert curate(repo, "lock", "--as-of", "2999-01-01") == 2
    err = capsys.readouterr().err
    assert "cannot resolve as of a day after today" in err
    assert "--as-of 2999-01-01" in err
    state = LockState(
        requests={
            "2026-11-21-svc": RequestState(path="x", sha256="", fingerprint="", pins=(), as_of="2999-01-01")
        }
    )
    (repo / "future.json").write_text(state.dumps(), "utf-8")
    assert curate(repo, "lock", "--dates-from", str(repo / "future.json")) == 2
    assert "2026-11-21-svc as of 2999-01-01" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        curate(repo, "lock", "--as-of", "yesterday")
    assert exc.value.code == 2
    assert "not a date like 2026-11-30: 'yesterday'" in capsys.readouterr().err


def test_dates_from_reproduces_a_lock_on_a_later_day(repo: Path, tmp_path: Path) -> None:
    write_request(repo, "svc", [("fresh", ""), ("usesfresh", "")])
    assert curate(repo, "lock", "--as-of", AS_OF) == 0
    again = tmp_path / "again"
    shutil.copytree(repo, again, ignore=shutil.ignore_patterns("packages", "lock.json"))
    (again / "catalog" / "packages").mkdir()
    # today (any day after 2026-11-26) would take fresh 1.1; the recorded day does not
    assert curate(again, "lock", "--dates-from", str(repo / "catalog" / "lock.json")) == 0
    assert snapshot(again) == snapshot(repo)


# -- the review report -----------------------------------------------------------------------------------


def _state(as_of: str, *held: HeldBack) -> LockState:
    request = RequestState(
        path="requests/2026-11-21-svc.yaml", sha256="s", fingerprint="f", pins=(), as_of=as_of, held_back=held
    )
    return LockState(requests={"2026-11-21-svc": request})


HELD = HeldBack(name="fresh", version="1.1", locked="1.0", uploaded="2026-11-18", eligible="2026-11-26")


def test_the_report_lists_what_the_change_held_back() -> None:
    report = compare({}, {}, base_state=_state("2026-11-01"), head_state=_state(AS_OF, HELD))
    text = render_text(report)
    assert "Held back by the release cooldown (1):" in text
    assert (
        "  fresh 1.1 (uploaded 2026-11-18, eligible on 2026-11-26); locked 1.0  [requests/2026-11-21-svc.yaml]"
        in text
    )
    markdown = render_markdown(report)
    assert "### Held back by the release cooldown (1)" in markdown
    assert "| `fresh` | 1.1 | 1.0 | 2026-11-18 | 2026-11-26 | requests/2026-11-21-svc.yaml |" in markdown
    assert report.to_dict()["held_back"] == [{"request": "requests/2026-11-21-svc.yaml", **HELD.to_dict()}]
    # a request the change did not resolve again is not this change's news
    assert compare({}, {}, base_state=_state(AS_OF, HELD), head_state=_state(AS_OF, HELD)).held_back == ()


def test_curate_diff_reads_both_lock_states(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git = ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "empty catalog"], check=True)
    write_request(repo, "svc", [("fresh", "")])
    assert curate(repo, "lock", "--as-of", AS_OF) == 0
    capsys.readouterr()
    assert curate(repo, "diff", "--base", "main", "--format", "markdown") == 0
    out = capsys.readouterr().out
    assert "| `fresh` | 1.1 | 1.0 | 2026-11-18 | 2026-11-26 | requests/2026-11-21-svc.yaml |" in out
