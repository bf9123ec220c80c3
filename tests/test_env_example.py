""".env.example lists every variable monolink reads, and nothing else.

The variables are found in the source, not at run time (a branch that is not taken would hide
one): every call that reads the environment in the modules below (`env.str("NAME")`, `env("NAME")`,
`os.environ.get("NAME")`, `os.environ["NAME"]`, `os.getenv("NAME")`), plus calls to the helpers of
monolink/env.py that take a variable's name. A read whose name is not a literal fails the test:
nobody could check it.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

from monolink.env import RETIRED

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    "monolink/env.py",
    *sorted(f"monolink/settings/{p.name}" for p in (ROOT / "monolink/settings").glob("*.py")),
    "gunicorn.conf.py",
]
# Helpers in monolink/env.py whose first argument is a variable's name.
NAME_HELPERS = {"required_secret", "ip_list"}


def _env_read(node: ast.AST) -> ast.expr | None:
    """The name argument of an environment read, or None when the node is no such read."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and ast.unparse(node.value) == "os.environ":
        return node.slice
    if not isinstance(node, ast.Call) or not node.args:
        return None
    callee = ast.unparse(node.func)
    if callee.endswith("_config"):  # env.email_url_config(url) and the like parse a value, read nothing
        return None
    on_env = isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value) == "env"
    if on_env or callee in {"env", "os.environ.get", "os.getenv", *NAME_HELPERS}:
        return node.args[0]
    return None


def variables_read(sources: dict[str, str]) -> Counter:
    """How many times each variable is read across the sources; non-literal reads are refused,
    except inside the name helpers themselves (their callers are counted instead)."""
    found: Counter = Counter()
    for label, text in sources.items():
        tree = ast.parse(text)
        helper_bodies = {
            id(inner)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef) and function.name in NAME_HELPERS
            for inner in ast.walk(function)
        }
        for node in ast.walk(tree):
            name = _env_read(node)
            if name is None:
                continue
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                found[name.value] += 1
            elif id(node) not in helper_bodies:
                raise AssertionError(f"{label}:{node.lineno}: an environment read whose name is not a literal")
    return found


def listed(example: str) -> set[str]:
    """Names in .env.example, set (`NAME=value`) or shown with their default (`# NAME=value`)."""
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))


def sources() -> dict[str, str]:
    return {path: (ROOT / path).read_text() for path in SOURCES}


def test_env_example_lists_every_variable_read_and_nothing_else():
    read = set(variables_read(sources()))
    example = listed((ROOT / ".env.example").read_text())

    assert read - example == set(), "read by monolink but missing from .env.example"
    assert example - read == set(), "in .env.example but read by nothing"


def test_every_variable_is_read_once():
    counts = variables_read(sources())

    assert {name: n for name, n in counts.items() if n > 1} == {}


def test_retired_variables_are_neither_read_nor_listed():
    assert set(RETIRED) & set(variables_read(sources())) == set()
    assert set(RETIRED) & listed((ROOT / ".env.example").read_text()) == set()


def test_a_variable_added_to_the_settings_without_a_listing_is_caught():
    # The check above must notice a new variable, whichever way it is read.
    for line in ('NEW = env.int("BRAND_NEW_LIMIT", default=3)', 'NEW = os.environ.get("BRAND_NEW_LIMIT")'):
        added = sources()
        added["monolink/settings/base.py"] += f"\n{line}\n"

        assert "BRAND_NEW_LIMIT" in set(variables_read(added)) - listed((ROOT / ".env.example").read_text())


def test_a_read_the_test_cannot_name_is_refused():
    with pytest.raises(AssertionError, match="not a literal"):
        variables_read({"monolink/settings/base.py": "import os\nNAME = 'X'\nVALUE = env.str(NAME)\n"})
