"""The import rule of the project's folders (README, "Layout"): ``bot/`` on top,
``adapters/`` below it, ``flows/`` and ``storage/`` at the bottom; imports run
downwards only, and adapters share nothing but their contracts."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "adapters", "flows", "storage")
#: What each folder may import from the project (itself included).
ALLOWED = {
    "bot": {"bot", "adapters", "flows", "storage"},
    "adapters": {"adapters", "flows", "storage"},
    "flows": {"flows"},
    "storage": {"storage"},
}
#: The only adapter modules another adapter may import: the contracts.
CONTRACTS = {"adapters.channels.channel", "adapters.gateways"}


def _imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def violations(module: str, source: str) -> list[str]:
    """Each import of ``module``'s source that breaks the rule."""
    package = module.split(".")[0]
    wrong = []
    for imported in sorted(_imports(source)):
        target = imported.split(".")[0]
        if target not in ALLOWED[package]:
            wrong.append(f"{module} imports {imported}")
        elif package == target == "adapters" and imported not in CONTRACTS | {module}:
            wrong.append(f"{module} imports another adapter, {imported}")
    return wrong


def _modules() -> list[tuple[str, Path]]:
    return [
        (".".join(path.relative_to(ROOT).with_suffix("").parts), path)
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


@pytest.mark.parametrize("module, path", _modules(), ids=lambda value: str(value))
def test_imports_run_downwards(module: str, path: Path) -> None:
    assert violations(module, path.read_text()) == []


@pytest.mark.parametrize(
    "module, source",
    [
        ("flows.cards", "from storage import members"),
        ("storage.members", "import flows.cards"),
        ("adapters.channels.line", "from bot.engine import Engine"),
        ("adapters.channels.line", "from adapters.channels.telegram import Telegram"),
        ("flows.flow", "def f():\n    from bot import runtime\n"),
    ],
)
def test_the_rule_catches_an_upward_import(module: str, source: str) -> None:
    assert violations(module, source)
