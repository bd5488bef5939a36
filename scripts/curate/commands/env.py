"""Write one request's environment for one target: the exact set of files the catalog vetted for it.

The same file `curate build` publishes under public/envs/REQUEST/TARGET/, made here from catalog/ and
requests/ alone, with no network:

  pylock        pylock.toml (PEP 751): every package with its one file, sha256, size and URL
                   install: uv pip install -r pylock.toml   (or, pip 26.3+: pip install -r pylock.toml)
  requirements  requirements.txt with --hash lines and no index
                   install: pip install --require-hashes --no-deps --index-url INDEX -r requirements.txt
  cyclonedx     a CycloneDX 1.6 SBOM (JSON): purl, version, sha256, licence and vetting outcome
                (advisories found and waived) of every package

Without --target, the target of this machine (OS, architecture and Python) is taken when the request
has it. As in the build, an environment holds only what the index serves: a target where some version
is left out (blocked by vetting, a waiver expired by today or $CURATE_TODAY, not vetted as these bytes
or under this policy, not vetted or locked yet) has no environment: the command says why and exits 1.

A wheel `curate wheels` built is named as the build names it: where the index serves it (beside the
sdist it was built from, or under build.serve: built in place of the upstream wheel), but only while
the file cache (--cache-dir, else the configured one) holds exactly the bytes it recorded, the
condition under which the index serves it. Without those bytes the index does not serve it, so the
file names what the index serves instead (the sdist, or the upstream wheel) and a note on standard
error says which built wheel was left out and why (run curate wheels, which must reproduce it).

File URLs are absolute (uv and pip accept nothing else): the catalog's files under site.base_url. Behind
a reverse proxy that serves the same tree under another host, --base-url writes them under that base;
behind a repository manager or caching proxy that serves the index under its own layout (Nexus,
Artifactory, devpi, proxpi), --index-url looks each file up on that index by name and checks its sha256
(the only time this command uses the network).
"""

from __future__ import annotations

import argparse
import platform
import sys
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from curate.atomic import atomic_write
from curate.environments import FILENAMES, FORMATS, Format, Host, environment_file
from curate.errors import UsageError, redact_credentials, terminal_text

_OS = {"linux": "linux", "win32": "windows", "darwin": "macos"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("request", metavar="REQUEST", help="the request's id (its file name) or its file")
    parser.add_argument(
        "--target",
        metavar="TARGET",
        default=None,
        help="e.g. linux-x86_64-py3.12 (default: this machine's, when the request has it)",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="pylock", help="which file to write (default: pylock)"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="write to FILE (default: standard output); a pylock file must be named pylock.toml or "
        "pylock.NAME.toml for uv and pip to read it",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        default=None,
        help="the file cache, where the wheels curate wheels built are (default: see curate fetch)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--base-url",
        metavar="URL",
        type=_url,
        default=None,
        help="the files under this base (an http(s) or file URL) instead of site.base_url (a reverse "
        "proxy or a copy of the same tree)",
    )
    where.add_argument(
        "--index-url",
        metavar="URL",
        type=_url,
        default=None,
        help="look each file up on this index (a proxy of the catalog's index) by name and sha256; "
        "needs the network",
    )


def _url(value: str) -> str:
    """An http(s) URL with a host, or a file URL of an absolute path (``file:///...``): what uv and pip
    fetch a lock's files from. Refused: credentials in it (the lock is published: netrc or a keyring
    gives them to the installer), a query or fragment (the files' paths go after it), a backslash (read
    as a slash by some parsers and not by others), whitespace and control characters."""
    why = ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a port out of range raises)
    except ValueError:
        why = "not a URL"
    else:
        if parts.scheme in ("http", "https") and parts.hostname:
            if parts.username is not None or parts.password is not None:
                why = "it carries credentials, which would be written into the lock (use netrc or a keyring)"
        elif not (parts.scheme == "file" and value.startswith("file:///")):
            why = "not an http(s) URL with a host or a file:/// URL"
        if not why and (parts.query or parts.fragment or "?" in value or "#" in value):
            why = "a query or fragment: the files' paths go after it"
    if not why and any(c.isspace() or c == "\\" or unicodedata.category(c) in ("Cc", "Cf") for c in value):
        why = "whitespace, a backslash or a control character in it"
    if why:
        shown = redact_credentials(repr(value))
        raise argparse.ArgumentTypeError(
            terminal_text(f"{shown}: {why} (e.g. https://packages.example.com/ or file:///srv/public/)")
        )
    return value


def host() -> Host:
    return Host(
        os=_OS.get(sys.platform, sys.platform),
        machine=platform.machine(),
        python=f"{sys.version_info.major}.{sys.version_info.minor}",
    )


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    fmt: Format = args.format
    written = environment_file(
        root,
        request=args.request,
        target=args.target,
        fmt=fmt,
        host=host(),
        base_url=args.base_url,
        index_url=args.index_url,
        cache_dir=args.cache_dir,
        env=env,
    )
    for note in written.notes:
        print(terminal_text(f"note: {note}"), file=sys.stderr)
    if args.output is None or str(args.output) == "-":
        sys.stdout.write(written.text)
        return 0
    try:
        atomic_write(args.output, written.text)
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(
        terminal_text(
            f"wrote {args.output}: {FILENAMES[fmt]} of {written.request} on {written.target.id} "
            f"({written.packages} package(s), files listed on {redact_credentials(written.index)})"
        ),
        file=sys.stderr,
    )
    from packaging.pylock import is_valid_pylock_path

    if fmt == "pylock" and not is_valid_pylock_path(args.output):
        print(
            "note: uv and pip read a lock file only when it is named pylock.toml or pylock.NAME.toml",
            file=sys.stderr,
        )
    return 0
