"""Targets: an operating system, an architecture and a Python version, mapped to wheel tags and markers."""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # imported where used: `curate check` needs neither tags nor markers
    from packaging import tags as ptags
    from packaging.markers import Marker

OSName = Literal["linux", "windows", "macos"]
OS_NAMES: tuple[OSName, ...] = typing.get_args(OSName)
OS_LABELS: dict[str, str] = {"linux": "Linux", "windows": "Windows", "macos": "macOS"}
OS_ALIASES = {
    "win": "windows",
    "win32": "windows",
    "win64": "windows",
    "nt": "windows",
    "osx": "macos",
    "darwin": "macos",
    "mac": "macos",
    "macosx": "macos",
    "apple": "macos",
    "lin": "linux",
    "ubuntu": "linux",
    "debian": "linux",
    "rhel": "linux",
    "manylinux": "linux",
    "posix": "linux",
}

_SYS_PLATFORM = {"linux": "linux", "windows": "win32", "macos": "darwin"}
_PLATFORM_SYSTEM = {"linux": "Linux", "windows": "Windows", "macos": "Darwin"}
_OS_NAME = {"linux": "posix", "windows": "nt", "macos": "posix"}
# platform.machine() as each OS reports an architecture
_MACHINE = {
    ("windows", "x86_64"): "AMD64",
    ("windows", "amd64"): "AMD64",
    ("windows", "arm64"): "ARM64",
    ("windows", "x86"): "x86",
    ("macos", "aarch64"): "arm64",
}

_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
_MUSLLINUX = re.compile(r"^musllinux_(\d+)_(\d+)_(\w+)$")
_MACOSX = re.compile(r"^macosx_(\d+)_(\d+)_(\w+)$")
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


def expand_platform_tag(tag: str) -> list[str]:
    """Every platform tag an installer on a system described by ``tag`` accepts, best first.

    ``manylinux_2_28_x86_64`` accepts every older glibc (and the legacy aliases), ``musllinux_1_2_x``
    every older musl, ``macosx_11_0_arm64`` every older macOS and ``universal2``; others stand alone.
    """
    if m := _MANYLINUX.match(tag):
        major, minor, arch = int(m[1]), int(m[2]), m[3]
        out = []
        for mi in range(minor, 4, -1):
            out.append(f"manylinux_{major}_{mi}_{arch}")
            if legacy := _LEGACY_MANYLINUX.get((major, mi)):
                out.append(f"{legacy}_{arch}")
        return out
    if m := _MUSLLINUX.match(tag):
        major, minor, arch = int(m[1]), int(m[2]), m[3]
        return [f"musllinux_{major}_{mi}_{arch}" for mi in range(minor, -1, -1)]
    if m := _MACOSX.match(tag):
        from packaging import tags as ptags

        return list(ptags.mac_platforms((int(m[1]), int(m[2])), m[3]))
    return [tag]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Platform:
    """One OS + architecture from the config, with the wheel platform tags it accepts."""

    name: str  # e.g. linux-x86_64
    os: OSName
    arch: str
    platform_tags: tuple[str, ...]  # as written in the config

    @property
    def accepted_platform_tags(self) -> tuple[str, ...]:
        return _expand_all(self.platform_tags)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """A platform and a Python version: what a request is resolved and served for."""

    platform: Platform
    python: str  # "3.12"

    @property
    def id(self) -> str:
        """Stable identifier used in the catalog: ``linux-x86_64-py3.12``."""
        return f"{self.platform.name}-py{self.python}"

    @property
    def label(self) -> str:
        return f"{self.platform.name} / Python {self.python}"

    @property
    def os(self) -> OSName:
        return self.platform.os

    @property
    def python_tuple(self) -> tuple[int, int]:
        major, minor = self.python.split(".")
        return int(major), int(minor)

    def tags(self) -> list[ptags.Tag]:
        """Wheel tags a CPython of this version on this platform installs, most preferred first."""
        return _tags(self.python_tuple, self.platform.accepted_platform_tags)

    def tag_set(self) -> frozenset[ptags.Tag]:
        return _tag_set(self.python_tuple, self.platform.accepted_platform_tags)

    def accepts_wheel(self, filename: str) -> bool:
        from packaging.utils import parse_wheel_filename

        _, _, _, wheel_tags = parse_wheel_filename(filename)
        return not wheel_tags.isdisjoint(self.tag_set())

    def marker_environment(self) -> dict[str, str]:
        """The PEP 508 environment a marker is evaluated in for this target."""
        return marker_environment(self.os, self.platform.arch, self.python)

    def evaluate(self, marker: Marker | str | None, extras: Iterable[str] = ()) -> bool:
        if marker is None:
            return True
        from packaging.markers import Marker

        m = Marker(marker) if isinstance(marker, str) else marker
        env = self.marker_environment()
        extra_list = list(extras) or [""]
        return any(m.evaluate({**env, "extra": e}) for e in extra_list)


def marker_environment(os: str, arch: str, python: str) -> dict[str, str]:
    machine = _MACHINE.get((os, arch), arch)
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": _OS_NAME[os],
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": _PLATFORM_SYSTEM[os],
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": _SYS_PLATFORM[os],
        "extra": "",
    }


@functools.lru_cache(maxsize=64)
def _expand_all(platform_tags: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for tag in platform_tags:
        for t in expand_platform_tag(tag):
            seen.setdefault(t, None)
    return tuple(seen)


@functools.lru_cache(maxsize=256)
def _tags(python: tuple[int, int], platforms: tuple[str, ...]) -> list[ptags.Tag]:
    from packaging import tags as ptags

    interp = f"cp{python[0]}{python[1]}"
    out = list(ptags.cpython_tags(python, abis=[interp], platforms=platforms))
    out.extend(ptags.compatible_tags(python, interpreter=interp, platforms=platforms))
    return out


@functools.lru_cache(maxsize=256)
def _tag_set(python: tuple[int, int], platforms: tuple[str, ...]) -> frozenset[ptags.Tag]:
    return frozenset(_tags(python, platforms))


def iter_targets(platforms: Iterable[Platform], pythons: Iterable[str]) -> Iterator[Target]:
    pys = list(pythons)
    for p in platforms:
        for py in pys:
            yield Target(platform=p, python=py)
