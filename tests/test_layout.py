"""The architecture, checked: a library, the labs' back-ends on it, and one UI package per lab, imports pointing down.

Every import of every source file is read with ``ast`` (imports inside functions included), resolved to the module
it names, and checked against the layering rules of the README's "Architecture" section."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("diffusion", "ui")
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


SOURCES = {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}
SOURCES["app"] = ROOT / "app.py"


def _is_module(name: str) -> bool:
    return name in SOURCES


def imports_of(module: str) -> set[str]:
    """The modules ``module`` imports (absolute names), anywhere in the file; third-party ones included."""
    path = SOURCES[module]
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:                          # "from pkg import submodule" names the submodule
                sub = f"{target}.{alias.name}"
                out.add(sub if _is_module(sub) else target)
    return out


GRAPH = {m: {i for i in imports_of(m) if _is_module(i) and i != m} for m in SOURCES}


def test_the_import_reader_sees_what_is_there():
    # guards against a reader that finds nothing and so lets every rule below pass
    assert len(SOURCES) > 60
    assert "diffusion.samplers.common" in GRAPH["diffusion.samplers"]
    assert "diffusion.labs.racers" in GRAPH["diffusion.labs.race"]           # a relative "from .racers import"
    assert "diffusion.labs.race" in GRAPH["ui.compare.handlers"]             # "from diffusion.labs import race"
    assert "gradio" in imports_of("ui.widgets.inputs")


def _cycle(nodes: set[str]) -> list[str] | None:
    """One import cycle among ``nodes``, or None (depth-first search with colours)."""
    colour, stack = {}, []

    def visit(m):
        colour[m] = "grey"
        stack.append(m)
        for n in sorted(GRAPH[m] & nodes):
            if colour.get(n) == "grey":
                return stack[stack.index(n):] + [n]
            if n not in colour and (found := visit(n)):
                return found
        stack.pop()
        colour[m] = "black"
        return None

    for m in sorted(nodes):
        if m not in colour and (found := visit(m)):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    GRAPH["_a"], GRAPH["_b"] = {"_b"}, {"_a"}
    try:
        assert _cycle({"_a", "_b"}) == ["_a", "_b", "_a"]
    finally:
        del GRAPH["_a"], GRAPH["_b"]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    assert _cycle({m for m in GRAPH if m.split(".")[0] == package}) is None


def _offenders(where, forbidden) -> list[str]:
    return sorted(f"{m} imports {i}" for m in SOURCES if where(m) for i in imports_of(m) if forbidden(i))


def test_the_library_knows_no_ui_and_no_lab():
    assert not _offenders(lambda m: m.startswith("diffusion"), lambda i: i.split(".")[0] in ("gradio", "ui", "app"))
    library = lambda m: m.startswith("diffusion") and not m.startswith("diffusion.labs")  # noqa: E731
    assert not _offenders(library, lambda i: i.startswith("diffusion.labs"))


def test_the_ui_asks_a_lab_back_end_for_the_maths():
    low_level = ("diffusion.exact", "diffusion.parameterization", "diffusion.forward")
    assert not _offenders(lambda m: m.startswith("ui") or m == "app", lambda i: i in low_level)


def test_each_lab_ui_stands_on_its_own():
    """A lab's UI imports the shared widgets and serving, never another lab's UI -- except that the Compare tab
    races the Toy lab's shared default model (ui.toy.session)."""
    labs = ("toy", "image", "compare", "guidance", "edit")

    def crossing(m, i):
        if not (m.startswith("ui.") and i.startswith("ui.")):
            return False
        here, there = m.split(".")[1], i.split(".")[1]
        if there not in labs or here == there:
            return False
        return not (here == "compare" and i == "ui.toy.session")
    hits = sorted(f"{m} imports {i}" for m in SOURCES for i in imports_of(m) if crossing(m, i))
    assert not hits


def test_no_source_file_is_over_the_size_limit():
    long = {m: n for m, p in SOURCES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_no_lab_prefixed_modules_left_flat_in_ui():
    flat = [p.name for p in (ROOT / "ui").glob("*.py") if p.name.split("_")[0] in ("toy", "image", "compare", "guidance", "edit")]
    assert not flat
    for lab in ("toy", "image", "compare", "guidance", "edit"):
        assert {"tab.py", "handlers.py", "session.py"} <= {p.name for p in (ROOT / "ui" / lab).glob("*.py")}


def _python_files():
    return sorted(p for top in ("app.py", "diffusion", "ui", "bench", "scripts", "tests")
                  for p in ([ROOT / top] if top.endswith(".py") else (ROOT / top).rglob("*.py")))


def test_no_source_file_has_an_invalid_escape_sequence():
    # "\nabla" in a plain string is a newline and "abla": a formula the page shows broken (it happened once)
    import warnings
    bad = []
    for path in _python_files():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                compile(path.read_text(), str(path), "exec")
            except SyntaxError as exc:
                bad.append(f"{path.relative_to(ROOT)}:{exc.lineno}: {exc.msg}")
    assert not bad, bad


def test_the_escape_check_finds_a_bad_escape():
    import warnings
    with warnings.catch_warnings(), pytest.raises(SyntaxError, match="invalid escape sequence"):
        warnings.simplefilter("error")
        compile('X = "$\\hat x$"', "x.py", "exec")      # the source text X = "$\hat x$"
