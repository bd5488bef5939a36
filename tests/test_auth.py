"""An upstream behind a login: credentials from netrc or the configured URL, sent as basic auth by uv and
by curate, and never written into the catalog or printed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.auth import credentials_for, split_credentials
from curate.errors import CurateError
from tests.lockutil import curate, lock_repo, write_request
from tests.upstream import Upstream, make_upstream

LOGIN = ("ci-bot", "s3cret-token")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with make_upstream(tmp_path_factory.mktemp("upstream")) as up:
        up.login = LOGIN
        yield up


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache-auth"))
    monkeypatch.setenv("NETRC", str(tmp_path_factory.getbasetemp() / "no-netrc"))


def write_netrc(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    return path


def catalog_text(repo: Path) -> str:
    return "".join(p.read_text("utf-8") for p in sorted((repo / "catalog").rglob("*")) if p.is_file())


def test_lock_and_fetch_log_in_with_netrc(
    tmp_path: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    netrc = write_netrc(tmp_path / "netrc", f"machine 127.0.0.1 login {LOGIN[0]} password {LOGIN[1]}\n")
    monkeypatch.setenv("NETRC", str(netrc))
    repo = lock_repo(tmp_path / "repo", upstream.index_url)
    write_request(repo, "web", [("httpish", "")])
    assert curate(repo, "lock") == 0, capsys.readouterr().err
    assert "s3cret" not in catalog_text(repo)
    assert "ci-bot" not in catalog_text(repo)
    assert curate(repo, "fetch", "-q", "--cache-dir", str(tmp_path / "cache")) == 0, capsys.readouterr().err

    # the same catalog, fetched by a machine without the credentials: the error says how to log in
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    capsys.readouterr()
    assert curate(repo, "fetch", "-q", "--cache-dir", str(tmp_path / "cache2")) == 1
    err = capsys.readouterr().err
    assert "HTTP 401" in err
    assert "put them in ~/.netrc (or the file $NETRC names)" in err


def test_credentials_in_the_configured_index_url_are_used_and_not_written(
    tmp_path: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    url = upstream.index_url.replace("http://", f"http://{LOGIN[0]}:{LOGIN[1]}@")
    repo = lock_repo(tmp_path / "repo", url)
    write_request(repo, "web", [("httpish", "")])
    assert curate(repo, "lock") == 0, capsys.readouterr().err
    written = "".join(p.read_text("utf-8") for p in (repo / "catalog" / "packages").glob("*.yaml"))
    assert "s3cret" not in written
    assert "127.0.0.1" not in written  # no URL at all: fetch finds the files on the pages, logged in
    assert curate(repo, "fetch", "-q", "--cache-dir", str(tmp_path / "cache")) == 0  # same host: same login
    out, err = capsys.readouterr()
    assert "s3cret" not in out + err


def test_without_credentials_lock_fails_with_the_upstreams_401(
    tmp_path: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = lock_repo(tmp_path / "repo", upstream.index_url)
    write_request(repo, "web", [("httpish", "")])
    assert curate(repo, "lock") == 1
    assert "401" in capsys.readouterr().err


def test_split_and_choose_credentials(tmp_path: Path) -> None:
    assert split_credentials("https://u%40x:p%3Aw@host.example:8443/simple/") == (
        "https://host.example:8443/simple/",
        ("u@x", "p:w"),
    )
    assert split_credentials("https://host.example/simple/") == ("https://host.example/simple/", None)
    index = "https://bot:tok@upstream.example/simple/"
    assert credentials_for("https://upstream.example/files/x.whl", also=(index,), env={}) == ("bot", "tok")
    netrc = write_netrc(tmp_path / "netrc", "machine cdn.example login reader password pw\n")
    env = {"NETRC": str(netrc)}
    # another host never gets the index's login: only its own netrc entry, if any
    assert credentials_for("https://cdn.example/x.whl", also=(index,), env=env) == ("reader", "pw")
    assert credentials_for("https://other.example/x.whl", also=(index,), env=env) is None


def test_a_broken_netrc_is_named_with_its_line(tmp_path: Path) -> None:
    netrc = write_netrc(tmp_path / "netrc", "machine a.example login x password y\nmachine\n")
    with pytest.raises(CurateError, match=r"netrc:\d+: cannot read the netrc file"):
        credentials_for("https://b.example/", env={"NETRC": str(netrc)})
