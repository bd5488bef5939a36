"""catalog/config.yaml is validated like requests: position, message and hint for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.config import read_config
from tests.conftest import REPO
from tests.test_check import CONFIG


def problems(tmp_path: Path, text: str) -> list[tuple[int, int, str, str]]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    config, found = read_config(path, "catalog/config.yaml")
    assert (config is None) == bool(found)
    return [(p.line, p.col, p.message, p.hint) for p in found]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("site:", "sites:", [(1, 1, "unknown key 'sites' in the catalog config", "did you mean 'site'?")]),
        (
            'supported: ["3.10",',
            "supported: [3.10,",
            [
                (
                    5,
                    15,
                    "Python version 3.10 must be quoted (YAML reads 3.10 as the number 3.1)",
                    'write "3.10"',
                )
            ],
        ),
        (
            'default: ["3.11", "3.12"]',
            'default: ["3.11", "3.9"]',
            [(6, 21, "default Python 3.9 is not in python.supported", "supported: 3.10, 3.11, 3.12, 3.13")],
        ),
        (
            "{os: windows,",
            "{os: win,",
            [
                (11, 19, "unknown os 'win'", "did you mean 'windows'?"),
                (8, 3, "no target in 'targets' has os 'windows'", ""),
            ],
        ),
        (
            "base_url: http://127.0.0.1:8000/",
            "base_url: ftp://x",
            [(3, 3, "base_url must be an http(s) URL, got 'ftp://x'", "e.g. https://packages.example.com/")],
        ),
        (
            "platform_tags: [win_amd64]",
            "platform_tags: []",
            [
                (11, 45, "platform_tags must not be empty", ""),
                (8, 3, "no target in 'targets' has os 'windows'", ""),
            ],
        ),
    ],
)
def test_config_problems(
    tmp_path: Path, old: str, new: str, expected: list[tuple[int, int, str, str]]
) -> None:
    assert old in CONFIG
    assert problems(tmp_path, CONFIG.replace(old, new, 1)) == expected


def test_valid_config(tmp_path: Path) -> None:
    assert problems(tmp_path, CONFIG) == []


def test_repository_config_is_valid() -> None:
    config, found = read_config(REPO / "catalog" / "config.yaml", "catalog/config.yaml")
    assert found == []
    assert config is not None
    assert config.platforms_default == ("linux", "windows")


def test_upstream_limits_reach_the_http_client(tmp_path: Path) -> None:
    from curate.httpclient import Limits

    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    config, _ = read_config(path, "catalog/config.yaml")
    assert config is not None
    assert config.http_limits() == Limits()
    path.write_text(
        CONFIG
        + "upstream:\n  max_page_bytes: 1000\n  page_deadline: 0\n  download_deadline: 30\n  min_speed: 0\n"
    )
    config, _ = read_config(path, "catalog/config.yaml")
    assert config is not None
    limits = config.http_limits()
    assert (limits.max_page_bytes, limits.deadline, limits.download_deadline, limits.min_speed) == (
        1000,
        None,
        30.0,
        0,
    )


def test_upstream_limits_are_checked(tmp_path: Path) -> None:
    text = CONFIG + "upstream:\n  max_page_bytes: 0\n  min_speed: fast\n  deadline: 10\n"
    assert problems(tmp_path, text) == [
        (16, 3, "unknown key 'deadline' in upstream", "did you mean 'page_deadline'?"),
        (14, 3, "must be at least 1", ""),
        (15, 3, "expected an integer, got a string", ""),
    ]


def test_build_policy(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG + "build:\n  from_source: pure\n  serve: built\n  time_limit: 60\n")
    config, found = read_config(path, "catalog/config.yaml")
    assert found == []
    assert config is not None
    assert (config.build.from_source, config.build.serve, config.build.time_limit) == ("pure", "built", 60)
    found_problems = problems(tmp_path, CONFIG + "build:\n  from_source: all\n  time_limit: 0\n")
    assert [p[2] for p in found_problems] == ["unknown build.from_source 'all'", "must be at least 1"]
