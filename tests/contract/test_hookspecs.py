"""Meta-tests that keep the plugin contract honest: every hook is documented, has a test that
implements it, and appears in the plugin author's guide."""

import ast
import inspect
import re
from pathlib import Path

import pytest

from dinky_falcon import hookspecs

TESTS = Path(__file__).resolve().parents[1]
GUIDE = TESTS.parent / "plugins" / "README.md"

SPECS = sorted(
    (function for function in vars(hookspecs).values() if hasattr(function, "dinky_falcon_spec")),
    key=lambda function: function.__name__,
)
each_hook = pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.__name__)


def hookimpls_in(path: Path) -> set[str]:
    """Names of the functions and methods decorated with ``@hookimpl`` or ``@hookimpl(...)``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Name) and target.id == "hookimpl":
                    names.add(node.name)
    return names


# Hooks implemented by a plugin that some test module exercises (helpers and conftest don't count).
TESTED = set().union(*(hookimpls_in(path) for path in TESTS.rglob("test_*.py")))


def test_the_meta_tests_see_every_hook_of_the_contract():
    assert [spec.__name__ for spec in SPECS] == [
        "after_send",
        "before_send",
        "check_form_submission",
        "register_transports",
    ]


@each_hook
def test_every_hook_documents_when_it_runs_and_each_of_its_arguments(spec):
    doc = inspect.getdoc(spec) or ""
    assert doc.startswith("Called "), "say when the hook is called"
    for argument in inspect.signature(spec).parameters:
        assert re.search(rf"``{argument}\b", doc), f"document the argument {argument!r}"


@each_hook
def test_every_hook_has_a_test_that_implements_it(spec):
    assert spec.__name__ in TESTED, f"no test module implements {spec.__name__} with @hookimpl"


@each_hook
def test_every_hook_is_in_the_plugin_authors_guide(spec):
    assert f"`{spec.__name__}" in GUIDE.read_text()


def test_the_hookimpl_finder_sees_plain_and_called_decorators(tmp_path):
    path = tmp_path / "sample.py"
    path.write_text(
        "@hookimpl\ndef before_send(message): pass\n"
        "class P:\n    @hookimpl(trylast=True)\n    def after_send(self): pass\n"
        "@other\ndef register_transports(register): pass\n"
    )
    assert hookimpls_in(path) == {"before_send", "after_send"}
