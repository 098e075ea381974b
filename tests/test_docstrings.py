"""Every test says in one line what behaviour it checks (STYLE.md 11)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_every_test_function_has_a_one_line_docstring() -> None:
    """Each ``test_*`` function under tests/ opens with a docstring whose first line says it."""
    missing = []
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                doc = ast.get_docstring(node)
                if not doc or not doc.splitlines()[0].strip():
                    missing.append(f"{path.relative_to(TESTS)}:{node.lineno} {node.name}")
    assert not missing, "tests without a docstring:\n" + "\n".join(missing)
