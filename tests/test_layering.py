"""The layering rule: the daemon runs without the TUI, and the TUI knows only the wire contract."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IMPORT_ALL_AGENT_MODULES = """
import importlib, pkgutil, sys
import agent
for info in pkgutil.walk_packages(agent.__path__, "agent."):
    if info.name.endswith("__main__"):
        continue
    importlib.import_module(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "airi_tui"))
print(",".join(bad))
"""


def test_the_agent_never_imports_textual_or_the_tui() -> None:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL_AGENT_MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ""


def imported_modules(folder: Path) -> list[tuple[str, str]]:
    found = []
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(str(path), alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path), node.module))
    return found


def test_the_tui_imports_only_the_protocol_from_the_agent() -> None:
    offenders = [
        (path, module)
        for path, module in imported_modules(ROOT / "airi_tui")
        if module.split(".")[0] == "agent"
        and module != "agent.protocol"
        and not module.startswith("agent.protocol.")
    ]
    assert offenders == []


def test_the_protocol_imports_only_msgspec_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"msgspec", "agent"}
    offenders = [
        (path, module)
        for path, module in imported_modules(ROOT / "agent" / "protocol")
        if module.split(".")[0] not in allowed
        or (module.startswith("agent") and not module.startswith("agent.protocol"))
    ]
    assert offenders == []
