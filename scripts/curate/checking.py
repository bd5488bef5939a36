"""Checking request files and the config: the logic behind ``curate check`` and the pre-commit hook."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from curate.config import CONFIG_PATH, Config, read_config
from curate.errors import Problem, display_path
from curate.requests import Request, read_request, request_files, yaml_files


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class CheckResult:
    checked: int
    requests: int
    problems: list[Problem]
    parsed: list[Request]


def check_files(root: Path, files: list[Path]) -> CheckResult:
    """Check ``files`` (default: the config and every request); never raises for bad input."""
    config_path = root / CONFIG_PATH
    config_display = display_path(config_path)
    config: Config | None = None
    problems: list[Problem] = []
    checked = 0
    targets = _expand(files) or [config_path, *request_files(root)]
    config_real = _resolve(config_path)
    is_config = [config_real is not None and _resolve(f) == config_real for f in targets]
    wants_config = any(is_config)
    if config_path.exists():
        config, config_problems = read_config(config_path, config_display)
        if wants_config:
            problems.extend(config_problems)
        elif config_problems:
            problems.append(
                Problem(
                    path=config_display,
                    message="the catalog config has problems; requests are checked against the defaults",
                    hint=f"run: curate check {config_display}",
                )
            )
    elif wants_config:
        problems.append(
            Problem(
                path=config_display,
                message="catalog config not found",
                hint="run curate in the catalog repository's root, or pass -C DIR",
            )
        )
    parsed: list[Request] = []
    n_requests = 0
    for f, f_is_config in zip(targets, is_config, strict=True):
        if f_is_config:
            checked += 1
            continue
        checked += 1
        n_requests += 1
        request, request_problems = read_request(f, display_path(f), config, root=root)
        problems.extend(request_problems)
        if request is not None:
            parsed.append(request)
    return CheckResult(checked=checked, requests=n_requests, problems=sorted(problems), parsed=parsed)


def _expand(files: list[Path]) -> list[Path]:
    """The files given, with a directory (``curate check requests/``) standing for its request files."""
    out: list[Path] = []
    for f in files:
        if f.is_dir():
            out.extend(yaml_files(f))
        else:
            out.append(f)
    return out


def _resolve(path: Path) -> Path | None:
    try:
        return path.resolve()
    except OSError:
        return None
