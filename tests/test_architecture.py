"""The house as its picture: imports go one way, floor by floor; no module circle (imports
inside functions count); the floors that judge and show never touch TensorFlow; the rooms
that run cells never name a model; built-in plugins use only zoo's public names; and no
function grows past McCabe 10."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import zoo

ROOT = Path(__file__).resolve().parents[1]

#: floor of every module of zoo/, lowest first. A module imports only modules of its own
#: floor or below; a new module must be given a floor here.
FLOORS = {
    # the ground: no zoo imports but errors
    "errors": 0, "environment": 0, "interrupt": 0, "progress": 0, "png": 0, "hookspecs": 0,
    "stats": 0, "leakage": 0, "augment": 0, "explain": 0, "recipe": 0, "csvdata": 0,
    # what plugins hand over, the protocol, facts on disk, devices
    "specs": 1, "options": 1, "protocol": 1, "store": 1, "distribute": 1, "metrics": 1,
    # the plugin manager; checking and keeping models
    "plugins": 2, "checks": 2, "modelio": 2, "zoo": 2, "space": 2,
    # running: one fold, one cell
    "train": 3, "cells": 3,
    # where cells run, and the plan
    "executors.base": 4, "executors.local": 4, "executors.ray": 4, "executors": 4, "plan": 4,
    "search": 4,
    # the run loop; judging and showing (from facts only)
    "comparisons": 3, "words": 4,
    "engine": 5, "facts": 5, "verdict": 5, "figures": 5, "galleries": 5, "tuned": 5,
    "report": 6, "serve": 7, "listing": 6,
    # the plugin authors' test kit, and the command line on top
    "plugin_test": 6, "testing": 7, "cli": 8,
}

#: modules that judge and show: they read facts and never import tensorflow or keras
NO_TENSORFLOW = ("stats", "metrics", "facts", "comparisons", "words", "verdict", "figures",
                 "galleries", "report",
                 "png", "store", "leakage", "protocol", "progress", "plan", "engine",
                 "environment")
#: modules of the run loop: they never name a model
NO_MODEL_NAMES = ("engine", "plan", "cells", "executors.base", "executors.local",
                  "executors.ray", "executors", "train", "store", "progress")


def modules() -> dict:
    out = {}
    for path in (ROOT / "zoo").rglob("*.py"):
        rel = path.relative_to(ROOT / "zoo").with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts) or "zoo"] = path
    return out


def imports(path: Path) -> list:
    """Every module imported anywhere in the file (inside functions too), absolute names."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def zoo_imports(path: Path, known) -> set:
    out = set()
    for name in imports(path):
        if name == "zoo" or not name.startswith("zoo."):
            continue
        name = name[len("zoo."):]
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            out.add(name)
    return out


def test_every_module_has_a_floor():
    assert set(modules()) == set(FLOORS), "give each new module a floor in FLOORS"


def test_imports_go_down_the_floors_never_up():
    mods = modules()
    upward = [f"{m} (floor {FLOORS[m]}) imports {t} (floor {FLOORS[t]})"
              for m, path in mods.items() for t in zoo_imports(path, mods)
              if t != m and FLOORS[t] > FLOORS[m]]
    assert upward == []


def test_no_two_modules_import_each_other():
    mods = modules()
    graph = {m: zoo_imports(p, mods) - {m} for m, p in mods.items()}
    done, on_path, circles = set(), [], []

    def visit(m):
        if m in on_path:
            circles.append(on_path[on_path.index(m):] + [m])
            return
        if m in done:
            return
        on_path.append(m)
        for t in sorted(graph[m]):
            visit(t)
        on_path.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)
    assert circles == []


def test_the_floors_that_judge_and_show_never_import_tensorflow():
    mods = modules()
    found = [(m, n) for m in NO_TENSORFLOW for n in imports(mods[m])
             if n.split(".")[0] in ("tensorflow", "keras")]
    assert found == []


def test_the_run_loop_never_names_a_model():
    mods = modules()
    named = [(m, model) for m in NO_MODEL_NAMES for model in ("cnn", "vit", "resnet")
             if f'"{model}"' in mods[m].read_text() or f"'{model}'" in mods[m].read_text()]
    assert named == []


def test_built_in_plugins_use_only_zoos_public_names():
    public = set(zoo.__all__)
    found = []
    files = list((ROOT / "plugins").glob("*.py"))
    assert len(files) >= 5   # the check reads the built-ins, not an empty folder
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("zoo"):
                found.append(f"{path.name}: from {node.module} import ...")
            elif isinstance(node, ast.Import) and any(a.name.startswith("zoo.")
                                                      for a in node.names):
                found.append(f"{path.name}: import {node.names[0].name}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "zoo" and node.attr not in public:
                found.append(f"{path.name}: zoo.{node.attr}")
    assert found == []


def test_no_function_is_more_complex_than_mccabe_10():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.fail("ruff is needed for this test: pip install -e '.[test]' installs it")
    done = subprocess.run([ruff, "check", "--select", "C901", "--output-format", "concise",
                           "zoo", "plugins"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
