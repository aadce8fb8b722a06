"""The package installs what it imports: pyproject.toml's dependencies and extras agree with the requirements files
the README's commands install, and the core's third-party imports are all declared."""
import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def requirements(name: str) -> dict[str, str]:
    out = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            pkg = re.split(r"[=<>!~ ]", line, maxsplit=1)[0].lower().replace("_", "-")
            out[pkg] = line.replace(" ", "")
    return out


def declared(specs) -> dict[str, str]:
    out = {}
    for spec in specs:
        if spec.startswith("diffusion-lab["):
            continue
        pkg = re.split(r"[=<>!~ \[]", spec, maxsplit=1)[0].lower().replace("_", "-")
        out[pkg] = spec.replace(" ", "")
    return out


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CORE = declared(PROJECT["dependencies"])
EXTRAS = {k: declared(v) for k, v in PROJECT["optional-dependencies"].items()}


def test_the_app_extra_and_requirements_txt_pin_the_same_packages():
    app = {**CORE, **EXTRAS["hub"], **EXTRAS["app"]}
    assert app == requirements("requirements.txt")


def test_the_test_extra_and_requirements_dev_txt_pin_the_same_packages():
    assert EXTRAS["test"] == requirements("requirements-dev.txt")


def test_torch_is_pinned_to_the_cpu_build_the_project_uses():
    assert CORE["torch"] == "torch==2.13.0"


def test_every_third_party_import_of_the_core_is_declared():
    names = {"torch", "numpy", "PIL"}              # what the core may import at module level
    lazy = {"diffusers", "huggingface_hub", "safetensors", "requests", "httpx", "httpx2"}   # diffusion.hub, lazily
    found = set()
    for path in (ROOT / "diffusion").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
    import sys
    third_party = {n for n in found if n not in sys.stdlib_module_names and n != "diffusion"}
    assert third_party <= names | lazy, third_party - names - lazy
    assert {"pillow", "numpy", "torch"} <= set(CORE)
    assert {"diffusers", "huggingface-hub", "safetensors"} <= set(EXTRAS["hub"])
