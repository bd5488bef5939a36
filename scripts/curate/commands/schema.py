"""Print the JSON Schema (draft 2020-12) of change requests.

The schema ships in the package as scripts/curate/data/request.schema.json; request files point
editors at it with a first line like
  # yaml-language-server: $schema=../scripts/curate/data/request.schema.json
so that keys, types and platforms are checked while typing. `curate check` remains the authority: it
also checks what a schema cannot (the catalog's Python versions, import names, duplicates, the file name).

--write rewrites the shipped file when it is out of date with the code; --check exits 1 when it is.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from curate.errors import display_path
from curate.schema import SCHEMA_FILE, is_current, schema_text, write_schema


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--write", action="store_true", help="rewrite the shipped request.schema.json if it is out of date"
    )
    group.add_argument(
        "--check", action="store_true", help="exit 1 if the shipped request.schema.json is out of date"
    )


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    return schema(write=args.write, check=args.check)


def schema(*, write: bool = False, check: bool = False, target: Path = SCHEMA_FILE) -> int:
    if check:
        if not is_current(target):
            print(f"{display_path(target)} is out of date; run: curate schema --write")
            return 1
        print(f"{display_path(target)} is up to date")
        return 0
    if write:
        changed = write_schema(target)
        print(f"{'wrote' if changed else 'up to date:'} {display_path(target)}")
        return 0
    print(schema_text(), end="")
    return 0
