"""`curate publish` into a hosted repository: devpi-server on 127.0.0.1, twine upload through curate,
pip installing from devpi's index."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.cli import main
from curate.config import load_config
from curate.errors import ValidationError
from curate.publish import TargetResult, publish
from tests.catalogs import make_repo
from tests.servers import devpi_index, devpi_server
from tests.test_clients import installed, pip
from tests.test_index_helpers import Built, make_built
from tests.wheels import Dist, build_wheel

pytestmark = pytest.mark.slow

USER, PASSWORD = "ci-bot", "s3cret-token"


@pytest.fixture(scope="module")
def devpi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with devpi_server(tmp_path_factory.mktemp("devpi")) as url:
        yield url


def _config(upload: str) -> str:
    return f"\npublish:\n  repository:\n    url: {upload}\n    index_url: {upload}+simple/\n"


def _publish(built: Built, env: dict[str, str], *, dry_run: bool = False) -> TargetResult:
    done = publish(
        root=built.root,
        tree=built.public,
        config=load_config(built.root),
        env=env,
        targets=["repository"],
        cache_dir=built.cache,
        dry_run=dry_run,
    )
    return done.results[0]


def test_publish_into_devpi(devpi: str, tmp_path: Path) -> None:
    upload = devpi_index(devpi, USER, PASSWORD, "catalog")
    built = make_built(tmp_path / "b", extra_config=_config(upload))
    env = {"TWINE_USERNAME": USER, "TWINE_PASSWORD": PASSWORD, "HOME": str(tmp_path)}
    served = sorted(
        p.name
        for p in (built.public / "files").rglob("*")
        if p.is_file() and not p.name.endswith(".metadata")
    )

    dry = _publish(built, env, dry_run=True)
    assert dry.dry_run
    assert sorted(dry.uploaded) == sorted(f for f in served if not f.startswith("httpish-1.2"))

    first = _publish(built, env)
    assert sorted(first.uploaded) == sorted(dry.uploaded)
    assert first.skipped == (
        "httpish-1.2-py3-none-any.whl: yanked in the catalog (twine cannot mark a file yanked; not pushed)",
    )
    assert (first.unchanged, first.refused) == (0, ())
    index = f"{upload}+simple/"
    pip(tmp_path, index, "install", "--target", str(tmp_path / "t"), "webapp==2.0", "plus.ver")
    assert installed(tmp_path / "t") == {
        "webapp": "2.0",
        "httpish": "1.1",
        "certy": "2024.1",
        "plus-ver": "1.0+local",
    }

    # again, with the credentials from netrc this time: nothing to upload
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    second = _publish(built, {"NETRC": str(netrc), "HOME": str(tmp_path)})
    assert (second.uploaded, second.refused) == ((), ())
    assert second.unchanged == len(first.uploaded)


def test_same_name_other_bytes_is_refused(
    devpi: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = devpi_index(devpi, USER, PASSWORD, "taken")
    # someone pushed a certy-2024.1 wheel of their own before the catalog did
    other = build_wheel(
        Dist(name="certy", version="2024.1", summary="not the vetted one"), "py3-none-any", tmp_path / "o"
    )
    twine = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--repository-url", upload]
    subprocess.run([*twine, "-u", USER, "-p", PASSWORD, str(other)], check=True, capture_output=True)
    built = make_built(
        tmp_path / "b", picks={"certy": ["2024.1"], "httpish": ["1.1"]}, extra_config=_config(upload)
    )
    monkeypatch.setenv("TWINE_USERNAME", USER)
    monkeypatch.setenv("TWINE_PASSWORD", PASSWORD)
    code = main(["-C", str(built.root), "publish", "--cache-dir", str(built.cache), "-q"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "error: certy-2024.1-py3-none-any.whl: the repository has this filename with other bytes" in err
    assert "uploaded 1 " in out  # httpish went up all the same
    # nothing was deleted or replaced: devpi still serves the other bytes
    pip(tmp_path, f"{upload}+simple/", "download", "--no-deps", "-d", str(tmp_path / "d"), "certy")
    assert (tmp_path / "d" / other.name).read_bytes() == other.read_bytes()


def test_no_credentials_in_the_config(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        extra_config="\npublish:\n  repository:\n    url: https://bot:tok@repo.example/x/\n    password: x\n"
        "  s3:\n    bucket: packages-example\n    aws_secret_access_key: y\n",
    )
    with pytest.raises(ValidationError) as caught:
        load_config(root)
    messages = [p.message for p in caught.value.problems]
    assert messages == [
        "credentials do not belong in the config (it is committed): remove 'user:password@' from the URL",
        "credentials do not belong in the config (it is committed): remove 'password'",
        "credentials do not belong in the config (it is committed): remove 'aws_secret_access_key'",
    ]
