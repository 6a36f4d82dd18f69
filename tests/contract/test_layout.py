"""The house stays in order: small modules, rooms by job, a shallow import graph without
cycles, and the lower rooms (config, mail) free of the web framework and of the upper rooms."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dinky_falcon

PACKAGE = Path(dinky_falcon.__file__).parent
MAX_LINES = 300
MAX_DEPTH = 11
LOWER_ROOMS = ("config", "mail")
UPPER_ROOMS = ("web", "guard", "forms")
WEB_LIBRARIES = ("falcon", "marshmallow", "limits", "waitress", "apispec")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports (``from a import b``, ``import a``)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in known:
                    found.add(f"{source}.{alias.name}")
                elif source in known:
                    found.add(source)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def longest_chain(edges: dict[str, set[str]]) -> list[str]:
    """The longest import chain; AssertionError naming the cycle if there is one."""
    chains: dict[str, list[str]] = {}

    def chain(name: str, stack: tuple[str, ...]) -> list[str]:
        assert name not in stack, "import cycle: " + " -> ".join((*stack, name))
        if name not in chains:
            below = [chain(target, (*stack, name)) for target in edges[name]]
            chains[name] = [name, *max(below, key=len, default=[])]
        return chains[name]

    return max((chain(name, ()) for name in edges), key=len)


def test_no_module_is_over_300_lines():
    sizes = {path: len(path.read_text().splitlines()) for path in modules().values()}
    too_long = {str(path.relative_to(PACKAGE)): n for path, n in sizes.items() if n > MAX_LINES}
    assert not too_long


def test_the_import_graph_has_no_cycle_and_is_at_most_11_levels_deep():
    chain = longest_chain(graph())
    assert len(chain) <= MAX_DEPTH, " -> ".join(chain)


def test_the_lower_rooms_never_import_the_upper_ones():
    upward = [
        f"{name} -> {target}"
        for name, targets in graph().items()
        if name.split(".")[1:2] and name.split(".")[1] in LOWER_ROOMS
        for target in targets
        if target.split(".")[1:2] and target.split(".")[1] in UPPER_ROOMS
    ]
    assert not upward


def loaded_by(*names: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after importing ``names``."""
    script = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in names)
        + "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_loading_the_settings_imports_no_web_framework():
    assert not loaded_by("dinky_falcon.config.settings") & set(WEB_LIBRARIES)


def test_the_mail_room_imports_neither_falcon_nor_marshmallow():
    mail = sorted(name for name in modules() if name.startswith("dinky_falcon.mail"))
    assert not loaded_by(*mail) & {"falcon", "marshmallow"}
