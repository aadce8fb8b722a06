"""The README stays true to the code: every test it cites exists (the bad-input table maps each row to one), and
its ten-line example runs and prints what it computes."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CITED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(\[[^`]*\])?`")
CONTINUED = re.compile(r"`(\[[^`]*\])`")            # "`[garbage.jpg]`": another parameter of the id before it


def cited_ids() -> list[str]:
    """Node ids the README cites, in order; a bare `[param]` after an id in the same line is that test's too."""
    ids = []
    for line in README.splitlines():
        last = None
        for m in re.finditer(f"{CITED.pattern}|{CONTINUED.pattern}", line):
            if m.group(1):
                last = f"{m.group(1)}::{m.group(2)}"
                ids.append(last + (m.group(3) or ""))
            elif last is not None:
                ids.append(last + m.group(4))
    return ids


def collected(files: set[str]) -> set[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          *sorted(files)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return {line.strip() for line in out.stdout.splitlines() if "::" in line}


def test_every_test_the_readme_cites_exists():
    ids = cited_ids()
    assert len(ids) > 40                                   # the bad-input table alone cites dozens
    nodes = collected({i.split("::")[0] for i in ids})
    functions = {n.split("[")[0] for n in nodes}
    missing = [i for i in ids if (i not in nodes if "[" in i else i not in functions)]
    assert not missing, missing


def test_the_ten_line_example_runs_and_prints_what_it_computes():
    block = README.split("## The core package in ten lines", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    assert 8 <= len([line for line in block.splitlines() if line.strip()]) <= 14
    out = subprocess.run([sys.executable, "-c", block], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr[-2000:]
    printed = out.stdout.strip().splitlines()
    assert len(printed) >= 2, out.stdout                 # run as a script, it says what it computed


def test_the_endpoint_table_lists_every_public_endpoint_and_no_other(app_server):
    documented = set()
    for line in README.splitlines():
        if line.startswith("| `/"):
            documented |= set(re.findall(r"`/(\w+)`", line.split("|")[1]))
    public = {fn.api_name for fn in app_server.demo.fns.values()
              if fn.api_name and getattr(fn, "api_visibility", "public") == "public"}
    assert len(public) > 20 and documented == public, (sorted(public - documented), sorted(documented - public))


def readme_defaults() -> dict[str, dict]:
    """endpoint -> {parameter: value} for every `name=value` the endpoint table states as a Python literal (rows
    that document one endpoint only)."""
    import ast

    out = {}
    for line in README.splitlines():
        if not line.startswith("| `/"):
            continue
        cells = line.split("|")
        names = re.findall(r"`/(\w+)`", cells[1])
        if len(names) != 1:
            continue
        stated = {}
        for name, value in re.findall(r"`(\w+)=([^`]+)`", cells[2]):
            try:
                stated[name] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                pass                                     # e.g. steps="…": a description, not a value
        out[names[0]] = stated
    return out


def test_the_endpoint_tables_defaults_are_the_apis(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    stated = readme_defaults()
    checked, wrong = 0, []
    for endpoint, params in stated.items():
        actual = {p["parameter_name"]: p["parameter_default"] for p in api[f"/{endpoint}"]["parameters"]}
        for name, value in params.items():
            if name in actual:
                checked += 1
                if actual[name] != value:
                    wrong.append(f"/{endpoint} {name}: README {value!r}, API {actual[name]!r}")
            else:
                wrong.append(f"/{endpoint} {name}: README states it, the API has no such parameter")
    assert checked > 60 and not wrong, wrong
