"""Property tests: whatever bytes a request file holds, curate check exits 1 with a message, no traceback."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate import cli

CONFIG = """\
python: {supported: ["3.11", "3.12"], default: ["3.12"]}
targets:
  linux-x86_64: {os: linux, arch: x86_64, platform_tags: [manylinux_2_28_x86_64]}
  windows-amd64: {os: windows, arch: AMD64, platform_tags: [win_amd64]}
"""
NAME = "2026-11-21-fuzz.yaml"
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "catalog").mkdir()
    (root / "catalog" / "config.yaml").write_text(CONFIG)
    (root / "requests").mkdir()
    return root


def run_check(root: Path, content: bytes) -> tuple[int, str, str]:
    (root / "requests" / NAME).write_bytes(content)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["-C", str(root), "check", str(root / "requests" / NAME)])
    return code, out.getvalue(), err.getvalue()


def assert_rejected(root: Path, content: bytes) -> str:
    code, out, err = run_check(root, content)
    assert code == 1, (content[:200], out, err)
    assert "Traceback" not in err
    assert "problem(s) in 1 of 1 file(s)" in err
    assert NAME in err
    return err


@SETTINGS
@given(st.binary(max_size=2048))
def test_random_bytes(root: Path, data: bytes) -> None:
    code, _out, err = run_check(root, data)
    assert "Traceback" not in err
    assert code in (0, 1)
    if code == 1:
        assert NAME in err
    else:  # random bytes can only pass if they happen to be a valid request: impossible without 'title'
        pytest.fail(f"accepted: {data!r}")


yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@SETTINGS
@given(yaml_values)
def test_random_documents(root: Path, value: object) -> None:
    import json

    err = assert_rejected(root, json.dumps({"title": value, "packages": value}).encode())
    assert ": " in err


@SETTINGS
@given(st.text(alphabet=st.sampled_from("{}[]:,-&*!|>'\"#%@` \n\tab1"), max_size=200))
def test_yaml_punctuation(root: Path, text: str) -> None:
    assert_rejected(root, text.encode())


@pytest.mark.parametrize("depth", [100, 1000, 10_000, 100_000])
def test_deep_nesting(root: Path, depth: int) -> None:
    for content in (b"[" * depth + b"]" * depth, b"title: " + b"{a: " * depth + b"1" + b"}" * depth):
        err = assert_rejected(root, content)
        assert "nesting deeper than 64 levels" in err or "file is" in err


@pytest.mark.parametrize(
    "content",
    [
        "".join(" " * i + "a:\n" for i in range(1400)),  # block mappings, as deep as 1 MiB allows
        "- " * 100_000 + "x\n",  # compact block sequences on one line
        "? " * 100_000 + "x\n",  # complex keys
    ],
    ids=["block-mappings", "compact-sequences", "complex-keys"],
)
def test_deep_block_nesting(root: Path, content: str) -> None:
    err = assert_rejected(root, content.encode())
    assert "nesting deeper than 64 levels" in err


@pytest.mark.parametrize(
    "content",
    [
        b"title: " + b"x" * (1024 * 1024),  # over the limit
        b"title: " + b"x" * (1024 * 1024 - 100),  # just under: one huge scalar
        b"justification: '" + b"y" * 500_000 + b"'\n",
        b"packages:\n" + b"  - name: a\n" * 10_000,
        ("title: " + "\U0001f40d" * 200_000).encode(),
        b"\xff\xfe" + "title: x".encode("utf-16-le"),
        b"\x00" * 1000,
    ],
    ids=["over-limit", "huge-scalar", "huge-quoted", "many-items", "emoji", "utf-16", "nul"],
)
def test_huge_and_strange(root: Path, content: bytes) -> None:
    assert_rejected(root, content)


@pytest.mark.parametrize("levels", [5, 9, 30])
def test_alias_bombs(root: Path, levels: int) -> None:
    lines = ['a0: &a0 ["lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    err = assert_rejected(root, ("\n".join(lines) + "\n").encode())
    assert "YAML anchor 'a0' is not allowed" in err


def test_merge_key_bomb(root: Path) -> None:
    text = "base: &b {x: 1}\n" + "".join(f"k{i}: {{<<: *b}}\n" for i in range(1000))
    err = assert_rejected(root, text.encode())
    assert "YAML alias 'b' is not allowed" in err


@SETTINGS
@given(st.text(alphabet=st.sampled_from("0123456789-+._:eExobTtFfNnulrsZ~<= "), min_size=1, max_size=12))
def test_fast_path_scalars_match_the_strict_reader(scalar: str) -> None:
    from curate import yamlio

    raw = f"k: {scalar}\n- {scalar}\n".replace("\n- ", "\nl:\n  - ").encode()
    fast_doc, fast_problems = yamlio.loads(raw, "x.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(yamlio, "_LIBYAML", None)
        slow_doc, slow_problems = yamlio.loads(raw, "x.yaml")
    assert fast_problems == slow_problems
    fast = None if fast_doc is None else (fast_doc.data, fast_doc.marks, fast_doc.texts)
    slow = None if slow_doc is None else (slow_doc.data, slow_doc.marks, slow_doc.texts)
    assert repr(fast) == repr(slow)
