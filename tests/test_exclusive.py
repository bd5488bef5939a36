"""One curate run at a time on one tree: the lock names who holds it, and dies with its holder; two
builds on one output, or lock and vet on one catalog, stop the second one at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from curate.catalog import WRITE_LOCK
from curate.cli import main
from curate.exclusive import Busy, hold, holder, try_hold, wait_hold
from curate.staging import lock_path
from tests.catalogs import make_repo

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from curate.exclusive import hold
    held = hold(Path(sys.argv[1]), "curate build", what="public")
    print("held", flush=True)
    time.sleep(60)
    """
)


def _holder_process(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_is_told_who_holds_it(tmp_path: Path) -> None:
    path = tmp_path / ".public.lock"
    proc = _holder_process(path)
    try:
        with pytest.raises(Busy) as err:
            hold(path, "curate build", what="public", hint="two builds would publish over each other")
        assert str(err.value) == (
            f"public: another curate build is running (pid {proc.pid}); wait for it to finish, then run this"
            " again\n    hint: two builds would publish over each other"
        )
        assert err.value.pid == proc.pid
    finally:
        proc.kill()
        proc.communicate()


def test_the_lock_goes_with_its_holder_even_on_kill_9(tmp_path: Path) -> None:
    path = tmp_path / ".public.lock"
    proc = _holder_process(path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert path.exists()  # the file stays; the lock does not
    with hold(path, "curate build", what="public") as held:
        assert holder(path) == (os.getpid(), "curate build")
        assert held.path == path
    assert holder(path) == (None, "")  # released: nobody named


def test_waiting_for_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "partial" / "ab.lock"
    first = try_hold(path, "curate fetch")
    assert first is not None
    told: list[tuple[int | None, str]] = []
    got: list[object] = []
    waiter = threading.Thread(
        target=lambda: got.append(
            wait_hold(path, "curate fetch", on_wait=lambda *a: told.append(a), poll=0.01)
        )
    )
    waiter.start()
    for _ in range(500):
        if told:
            break
        time.sleep(0.01)
    first.release()
    waiter.join(10)
    assert told == [(os.getpid(), "curate fetch")]
    [second] = got
    assert second is not None


def test_waiting_stops_when_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    first = try_hold(path, "curate fetch")
    assert first is not None
    try:
        assert wait_hold(path, "curate fetch", cancelled=lambda: True, poll=0.01) is None
    finally:
        first.release()


# -- the verbs: two builds on one output, two lock/vet on one catalog ---------------------------------------


def _hold_in_another_process(path: Path, doing: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from curate.exclusive import hold
        held = hold(Path({str(path)!r}), {doing!r}, what="x")
        print("held", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_build_on_one_output_stops_and_leaves_the_first_ones_staging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the second build deleted the first one's staging tree as a leftover, and the first then
    published an almost empty public/ and exited 0."""
    root = make_repo(tmp_path / "repo")
    public = root / "public"
    staging = root / ".public.staging-first"  # the running build's tree
    (staging / "simple").mkdir(parents=True)
    proc = _hold_in_another_process(lock_path(public), "curate build")
    monkeypatch.chdir(root)
    try:
        assert main(["build", "--index-only"]) == 1
    finally:
        proc.kill()
        proc.communicate()
    err = capsys.readouterr().err
    assert f"error: public: another curate build is running (pid {proc.pid}); wait for it to finish" in err
    assert (staging / "simple").is_dir()
    assert not public.exists()
    assert main(["build", "--index-only"]) == 0  # the first one gone: it runs
    assert not staging.exists()  # and clears what a killed build left
    assert not lock_path(public).exists()


@pytest.mark.parametrize("verb", [["lock"], ["vet"]])
@pytest.mark.parametrize("holder_doing", ["curate lock", "curate vet"])
def test_lock_and_vet_take_turns_on_one_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: list[str], holder_doing: str
) -> None:
    root = make_repo(tmp_path / "repo")
    proc = _hold_in_another_process(root / WRITE_LOCK, holder_doing)
    before = {p: p.read_bytes() for p in (root / "catalog").rglob("*") if p.is_file()}
    try:
        extra = ["--cache-dir", str(tmp_path / "cache")] if verb == ["vet"] else []
        assert main(["-C", str(root), *verb, *extra]) == 1
    finally:
        proc.kill()
        proc.communicate()
    err = capsys.readouterr().err
    assert (
        f"error: catalog/: another {holder_doing} is running (pid {proc.pid}); wait for it to finish" in err
    )
    assert {p: p.read_bytes() for p in (root / "catalog").rglob("*") if p.is_file()} == before
