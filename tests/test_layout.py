"""The shape of the tree, checked: imports flow one way, modules stay small, class names are unique.

A newcomer reads the layout in the README; these tests keep it true as the code grows.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "inference", "storage")
MAX_MODULE_LINES = 400


def modules(*folders: str) -> list[Path]:
    return sorted(
        p for folder in folders for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts
    )


def imported(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (including inside functions and TYPE_CHECKING)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(folder)
        for name in sorted(imported(path))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        (
            "bot/core",
            (
                "bot.telegram",
                "bot.discord",
                "bot.api",
                "bot.web",
                "bot.console",
                "bot.app.runner",
                "bot.app.cli",
                "bot.app.config",
                "torch",
            ),
        ),
        (
            "bot/telegram",
            ("bot.discord", "bot.api", "bot.web", "bot.console", "bot.app.runner", "bot.app.cli", "torch"),
        ),
        (
            "bot/discord",
            ("bot.telegram", "bot.api", "bot.web", "bot.console", "bot.app.runner", "bot.app.cli", "torch"),
        ),
        (
            "bot/api",
            (
                "bot.telegram",
                "bot.discord",
                "bot.web",
                "bot.console",
                "bot.app.runner",
                "bot.app.cli",
                "torch",
            ),
        ),
        (
            "bot/web",
            (
                "bot.telegram",
                "bot.discord",
                "bot.api",
                "bot.console",
                "bot.app.runner",
                "bot.app.cli",
                "torch",
            ),
        ),
        ("storage", ("bot", "inference", "torch")),
        ("inference", ("bot",)),
    ],
)
def test_imports_flow_from_front_ends_to_the_core_to_storage_and_inference(folder, forbidden):
    assert offenders(folder, forbidden) == []


def test_serving_code_never_imports_the_bench_tooling():
    serving = [p for p in modules("inference") if "bench" not in p.relative_to(ROOT / "inference").parts]
    assert [
        str(p.relative_to(ROOT)) for p in serving if any(n.startswith("inference.bench") for n in imported(p))
    ] == []


def test_torch_is_imported_only_under_inference():
    users = [
        p
        for p in modules("bot", "storage")
        if any(n == "torch" or n.startswith("torch.") for n in imported(p))
    ]
    assert users == []


def test_no_module_is_over_the_size_limit():
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in modules(*PACKAGES)
    }
    assert {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}


def test_no_two_classes_share_a_name():
    names = Counter(
        node.name
        for path in modules(*PACKAGES, "tests")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    )
    assert {name: count for name, count in names.items() if count > 1} == {}


def test_bot_has_one_package_per_front_end_and_a_small_top_level():
    top = sorted(p.name for p in (ROOT / "bot").iterdir() if p.name != "__pycache__")
    assert len(top) <= 8, top
    for package in ("app", "core", "telegram", "discord"):
        assert (ROOT / "bot" / package / "__init__.py").is_file()


def test_the_core_is_composed_not_inherited_and_passes_things_explicitly():
    tree = ast.parse((ROOT / "bot/core/service.py").read_text(encoding="utf-8"))
    [service] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ChatService"]
    assert service.bases == [], "ChatService holds its flows; it inherits nothing"
    assert [str(p.relative_to(ROOT)) for p in modules("bot") if "contextvars" in imported(p)] == []
