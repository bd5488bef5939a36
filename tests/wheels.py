"""Build tiny but real wheels and sdists for tests and benchmarks.

Wheels carry a real ``METADATA`` (Metadata-Version 2.4), ``WHEEL`` and a ``RECORD`` with sha256 hashes,
so pip, uv and twine accept them. Sdists carry ``PKG-INFO`` and a ``pyproject.toml`` with static PEP 621
metadata and an in-tree build backend, so uv reads their metadata and can build them with no network.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

FIXED_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Dist:
    """One release of a fixture project: what files to build and what metadata they carry."""

    name: str
    version: str
    requires_dist: Sequence[str] = ()
    requires_python: str | None = None
    summary: str = ""
    license: str | None = None  # the legacy License field
    license_expression: str | None = "MIT"
    classifiers: Sequence[str] = ()
    home_page: str | None = None
    description: str = ""
    wheel_tags: Sequence[str] = ("py3-none-any",)  # one wheel per tag string; () for sdist-only
    sdist: bool = True
    yanked: str | None = None  # reason; "" counts as yanked without a reason
    upload_time: str = "2024-01-01T00:00:00.000000Z"
    metadata_name: str | None = None  # write another name into METADATA (a broken wheel)
    broken_record: bool = False  # RECORD hash that does not match
    provides_extra: Sequence[str] = ()
    top_level: Sequence[str] = ()  # import packages; default: the normalized name with '_'
    # licence files: (name, text); in the wheel under .dist-info/licenses/ with a License-File entry,
    # at the top of the sdist
    license_files: Sequence[tuple[str, str]] = ()
    wheel_files: Sequence[tuple[str, bytes]] = ()  # more members: ("x.pth", b"..."); {dist_info} expands
    sdist_files: Sequence[tuple[str, bytes]] = ()  # more members under the sdist's folder ("setup.py")
    metadata_version: str = "2.4"  # what METADATA declares (an older one with newer fields: a finding)


def _snake(name: str) -> str:
    return canonicalize_name(name).replace("-", "_")


def metadata_text(d: Dist) -> str:
    lines = [
        f"Metadata-Version: {d.metadata_version}",
        f"Name: {d.metadata_name or d.name}",
        f"Version: {d.version}",
    ]
    if d.summary:
        lines.append(f"Summary: {d.summary}")
    if d.home_page:
        lines.append(f"Home-page: {d.home_page}")
    if d.license_expression:
        lines.append(f"License-Expression: {d.license_expression}")
    if d.license:
        lines.append(f"License: {d.license}")
    lines.extend(f"License-File: {name}" for name, _ in d.license_files)
    lines.extend(f"Classifier: {c}" for c in d.classifiers)
    if d.requires_python:
        lines.append(f"Requires-Python: {d.requires_python}")
    lines.extend(f"Provides-Extra: {e}" for e in d.provides_extra)
    lines.extend(f"Requires-Dist: {r}" for r in d.requires_dist)
    if d.description:
        lines.append("Description-Content-Type: text/markdown")
        return "\n".join(lines) + "\n\n" + d.description + "\n"
    return "\n".join(lines) + "\n"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel_filename(d: Dist, tag: str) -> str:
    return f"{_snake(d.name)}-{d.version}-{tag}.whl"


def sdist_filename(d: Dist) -> str:
    return f"{_snake(d.name)}-{d.version}.tar.gz"


def build_wheel(d: Dist, tag: str, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    snake = _snake(d.name)
    dist_info = f"{snake}-{d.version}.dist-info"
    packages = list(d.top_level) or [snake]
    files: dict[str, bytes] = {}
    for pkg in packages:
        files[f"{pkg}/__init__.py"] = f'__version__ = "{d.version}"\n'.encode()
    for name, data in d.wheel_files:
        files[name.replace("{dist_info}", dist_info)] = data
    for name, text in d.license_files:
        files[f"{dist_info}/licenses/{name}"] = text.encode()
    files[f"{dist_info}/METADATA"] = metadata_text(d).encode()
    files[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: curate-tests\nRoot-Is-Purelib: {'true' if tag.endswith('-any') else 'false'}\nTag: {tag}\n"
    ).encode()
    files[f"{dist_info}/top_level.txt"] = ("\n".join(packages) + "\n").encode()
    record_lines = []
    for path, data in files.items():
        digest = _record_hash(
            data if not d.broken_record or not path.endswith("__init__.py") else b"tampered"
        )
        record_lines.append(f"{path},{digest},{len(data)}")
    record_lines.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    target = out_dir / wheel_filename(d, tag)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    target.write_bytes(buf.getvalue())
    return target


_BACKEND = '''\
"""A tiny in-tree PEP 517 backend: builds the wheel from the static metadata, no network needed."""
import base64, hashlib, os, zipfile

NAME, VERSION, SNAKE = {name!r}, {version!r}, {snake!r}
METADATA = {metadata!r}


def _h(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = os.path.join(metadata_directory, SNAKE + "-" + VERSION + ".dist-info")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w") as fh:
        fh.write(METADATA)
    return os.path.basename(d)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = SNAKE + "-" + VERSION + "-py3-none-any.whl"
    di = SNAKE + "-" + VERSION + ".dist-info"
    files = {{SNAKE + "/__init__.py": b"", di + "/METADATA": METADATA.encode(),
             di + "/WHEEL": b"Wheel-Version: 1.0\\nGenerator: fixture\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}}
    record = "".join(p + "," + _h(b) + "," + str(len(b)) + "\\n" for p, b in files.items()) + di + "/RECORD,,\\n"
    files[di + "/RECORD"] = record.encode()
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for p, b in files.items():
            zf.writestr(p, b)
    return name


def get_requires_for_build_sdist(config_settings=None):
    return []
'''


def build_sdist(d: Dist, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    snake = _snake(d.name)
    base = f"{snake}-{d.version}"
    meta = metadata_text(d)
    deps = ", ".join(json.dumps(r) for r in d.requires_dist)
    pyproject = (
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
        f'[project]\nname = "{d.name}"\nversion = "{d.version}"\ndependencies = [{deps}]\n'
        + (f'requires-python = "{d.requires_python}"\n' if d.requires_python else "")
    )
    files = {
        f"{base}/PKG-INFO": meta.encode(),
        f"{base}/pyproject.toml": pyproject.encode(),
        f"{base}/backend.py": _BACKEND.format(
            name=d.name, version=d.version, snake=snake, metadata=meta
        ).encode(),
        f"{base}/{snake}/__init__.py": b"",
    }
    for name, text in d.license_files:
        files[f"{base}/{name}"] = text.encode()
    for name, data in d.sdist_files:
        files[f"{base}/{name}"] = data
    target = out_dir / sdist_filename(d)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1704067200
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    target.write_bytes(buf.getvalue())
    return target


def build_dist(d: Dist, out_dir: Path) -> list[Path]:
    """Every file of one release: one wheel per tag, plus the sdist when asked."""
    paths = [build_wheel(d, tag, out_dir) for tag in d.wheel_tags]
    if d.sdist:
        paths.append(build_sdist(d, out_dir))
    return paths


# -- sdists built by real backends (setuptools, flit_core, hatchling: tests/data/build-backends.txt) -------


def backend_sdist(
    name: str,
    version: str,
    backend: str,
    out_dir: Path,
    *,
    setup_requires: Sequence[str] = (),
    requires: Sequence[str] | None = None,
) -> Path:
    """An sdist a real build backend builds: ``backend`` is ``setuptools`` (pyproject.toml naming it),
    ``setup.py`` (no pyproject.toml at all: PEP 518's default), ``flit``, ``hatchling`` or ``hatch-vcs``
    (hatchling with the hatch-vcs plugin, the version read back from PKG-INFO). ``setup_requires`` (with
    setuptools) is what its backend asks for on top through get_requires_for_build_wheel; ``requires``
    replaces the declared build requirements."""
    out_dir.mkdir(parents=True, exist_ok=True)
    snake = _snake(name)
    base = f"{snake}-{version}"
    project = f'[project]\nname = "{name}"\nversion = "{version}"\ndescription = "A fixture"\n'
    declared = {
        "setuptools": ["setuptools>=61"],
        "flit": ["flit_core>=3.4,<5"],
        "hatchling": ["hatchling>=1.20"],
        "hatch-vcs": ["hatchling>=1.20", "hatch-vcs"],
    }
    files: dict[str, str] = {
        f"{base}/{snake}/__init__.py": f'"""The {name} fixture."""\n__version__ = "{version}"\n',
        f"{base}/PKG-INFO": (
            f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\nSummary: A fixture\nLicense-Expression: MIT\n"
        ),
    }
    if backend in ("setuptools", "setup.py"):
        files[f"{base}/setup.cfg"] = (
            f"[metadata]\nname = {name}\nversion = {version}\n\n[options]\npackages = {snake}\n"
            + (
                f"setup_requires =\n    {chr(10).join('    ' + r for r in setup_requires).strip()}\n"
                if setup_requires
                else ""
            )
        )
        files[f"{base}/setup.py"] = "from setuptools import setup\n\nsetup()\n"
    backends = {
        "setuptools": "setuptools.build_meta",
        "flit": "flit_core.buildapi",
        "hatchling": "hatchling.build",
        "hatch-vcs": "hatchling.build",
    }
    if backend != "setup.py":
        reqs = list(declared[backend] if requires is None else requires)
        pyproject = f"[build-system]\nrequires = {json.dumps(reqs)}\nbuild-backend = {json.dumps(backends[backend])}\n\n"
        if backend == "setuptools":
            pyproject += project + f"\n[tool.setuptools]\npackages = [{json.dumps(snake)}]\n"
        elif backend == "hatch-vcs":
            pyproject += (
                f'[project]\nname = "{name}"\ndynamic = ["version"]\ndescription = "A fixture"\n\n'
                '[tool.hatch.version]\nsource = "vcs"\n'
            )
        else:
            pyproject += project
        if backend in ("hatchling", "hatch-vcs"):
            pyproject += f'\n[tool.hatch.build.targets.wheel]\npackages = ["{snake}"]\n'
        files[f"{base}/pyproject.toml"] = pyproject
    target = out_dir / f"{snake}-{version}.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for path, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1704067200
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    target.write_bytes(buf.getvalue())
    return target
