"""The house as its picture: one rule between the places of zoo/ (a module imports only its
own place or the places below it); no module circle (imports inside functions count); the
places that judge and show never touch a Keras backend; the rooms that run cells never name
a model; built-in plugins use only zoo's public names; an import inside a function says why;
and no function grows past McCabe 10 or radon's cyclomatic complexity 15."""
import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import zoo

ROOT = Path(__file__).resolve().parents[1]

#: the places of zoo/, lowest first: a module imports only its own place or those below it.
#: A subpackage is a place; a top-level module is the contract (what a plugin sees, facts on
#: disk) unless it is named here.
PLACES = ["contract", "grid", "tune", "judge", "show", "api", "cli"]
#: top-level modules that are not the contract: the front doors (``zoo`` itself, whose
#: ``zoo.run``/``zoo.report`` are the API's, loaded on first use)
FRONT = {"zoo": "api", "api": "api", "testing": "api", "plugin_test": "api", "cli": "cli"}
#: what each place holds, as the README's "Layout" table says it
JOBS = {
    "contract": "the plugin contract and facts on disk",
    "grid": "running the grid of cells",
    "tune": "equal tuning",
    "judge": "judging, from facts only",
    "show": "showing",
    "api": "the Python API and the test kits",
    "cli": "the command",
}

#: places that judge and show: they read facts and never import a backend
NO_BACKEND = ("contract", "tune", "judge", "show")
#: the backend's own packages
BACKEND = ("tensorflow", "keras", "keras_hub", "jax", "torch")
#: modules of the run loop: they never name a model
NO_MODEL_NAMES = ("grid.engine", "grid.plan", "grid.cells", "grid.executors.base",
                  "grid.executors.local", "grid.executors.ray", "grid.executors", "grid.train",
                  "store", "grid.progress")
#: the modules that may import zoo's own modules inside a function: start-up costs (the
#: command, the pytest plugin loaded in every pytest session, Ray workers that start bare),
#: and the package's front door
LAZY_ZOO = ("cli", "plugin_test", "grid.executors.ray", "zoo")


def modules() -> dict:
    out = {}
    for path in (ROOT / "zoo").rglob("*.py"):
        rel = path.relative_to(ROOT / "zoo").with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts) or "zoo"] = path
    return out


def place(module: str) -> str:
    if "." in module:
        return module.split(".")[0]
    if (ROOT / "zoo" / module).is_dir():
        return module
    return FRONT.get(module, "contract")


def imports(path: Path, inside_functions=False) -> list:
    """(line, absolute module name) of every import in the file (inside functions too), or
    of those inside functions only."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = ast.walk(tree)
    if inside_functions:
        nodes = [n for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(f)]
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}")
                                                     for a in node.names]
    return sorted(set(names))


def zoo_imports(path: Path, known, inside_functions=False) -> set:
    out = set()
    for _, name in imports(path, inside_functions):
        if name == "zoo" or not name.startswith("zoo."):
            continue
        name = name[len("zoo."):]
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            out.add(name)
    return out


def test_every_module_has_a_place():
    assert {place(m) for m in modules()} <= set(PLACES)
    assert {place(m) for m in modules()} == set(PLACES), "a place with no module is stale"


def test_imports_go_down_the_places_never_up():
    mods = modules()
    rank = {p: i for i, p in enumerate(PLACES)}
    upward = [f"{m} ({place(m)}) imports {t} ({place(t)})"
              for m, path in mods.items() for t in zoo_imports(path, mods)
              if rank[place(t)] > rank[place(m)]]
    assert upward == []


def test_the_rule_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from zoo.show import report\n")
    mods = modules()
    assert "show.report" in zoo_imports(bad, mods)
    assert PLACES.index(place("show.report")) > PLACES.index(place("store"))


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


def test_the_places_that_judge_and_show_never_import_a_backend():
    mods = modules()
    found = [(m, n) for m, path in mods.items() if place(m) in NO_BACKEND and m != "backend"
             for _, n in imports(path) if n.split(".")[0] in BACKEND]
    assert found == []


def test_the_run_loop_never_names_a_model():
    mods = modules()
    named = [(m, model) for m in NO_MODEL_NAMES for model in ("cnn", "vit", "resnet")
             if f'"{model}"' in mods[m].read_text() or f"'{model}'" in mods[m].read_text()]
    assert named == []


def _says_why(lines: list, lineno: int) -> bool:
    """A ``# lazy: reason`` on the import's line, or on the comment and import lines right
    above it (a block of imports shares one reason)."""
    i = lineno - 1
    while i >= 0:
        line = lines[i].strip()
        if "# lazy: " in line:
            return True
        if i < lineno - 1 and not line.startswith(("#", "import ", "from ")):
            return False
        i -= 1
    return False


def test_the_reason_of_a_block_of_imports_is_found_above_it():
    lines = ["def f():", "    # lazy: heavy", "    import a", "    from b import c", "",
             "    import d"]
    assert _says_why(lines, 3) and _says_why(lines, 4) and not _says_why(lines, 6)


def test_an_import_inside_a_function_says_why():
    """An import inside a function makes a reader look for a cycle: each says why it is
    there (``# lazy: reason``), and only the start-up rooms import zoo's own modules so."""
    mods = modules()
    unexplained, internal = [], []
    for m, path in mods.items():
        lines = path.read_text().splitlines()
        for lineno, name in imports(path, inside_functions=True):
            if not _says_why(lines, lineno):
                unexplained.append(f"zoo/{path.relative_to(ROOT / 'zoo')}:{lineno} {name}")
        if m not in LAZY_ZOO:
            internal += [f"{m} imports {t} inside a function"
                         for t in zoo_imports(path, mods, inside_functions=True)]
    assert sorted(set(unexplained)) == []
    assert sorted(internal) == []


def test_the_readme_layout_names_every_place_and_module():
    """The README's rooms table is checked against PLACES: every place in order, and every
    module of zoo/ named in its place's row."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| place | modules | job |"):]
    rows = [r for r in table.split("\n\n")[0].splitlines()[2:] if r.startswith("|")]
    found = [r.split("|")[1].strip().strip("`").rstrip("/") for r in rows]
    assert found == [f"zoo/{p}" if p in ("grid", "tune", "judge", "show") else p
                     for p in PLACES]
    for m, path in modules().items():
        if m == place(m):   # a place's own __init__
            continue
        row = rows[PLACES.index(place(m))]
        short = "__init__" if m == "zoo" else m.rpartition(".")[2] + (
            "/" if path.name == "__init__.py" else "")
        assert f"`{short}`" in row, f"the README's layout row of {place(m)} lacks `{short}`"
    for p, job in JOBS.items():
        assert job in rows[PLACES.index(p)], f"the README's {p} row should say: {job}"


def test_built_in_plugins_use_only_zoos_public_names():
    public = set(zoo.__all__)
    found = []
    files = list((ROOT / "plugins").rglob("*.py"))
    assert len(files) >= 5   # the check reads the built-ins, not an empty folder
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                    node.module.startswith("zoo"):
                found.append(f"{path.name}: from {node.module} import ...")
            elif isinstance(node, ast.Import) and any(a.name.startswith("zoo.")
                                                      for a in node.names):
                found.append(f"{path.name}: import {node.names[0].name}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "zoo" and node.attr not in public:
                found.append(f"{path.name}: zoo.{node.attr}")
    assert found == []


def _tool(name: str) -> str:
    tool = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(tool).exists():
        pytest.fail(f"{name} is needed for this test: pip install -e '.[test]' installs it")
    return tool


def test_no_function_is_more_complex_than_mccabe_10():
    done = subprocess.run([_tool("ruff"), "check", "--select", "C901", "--output-format",
                           "concise", "zoo", "plugins"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_function_is_more_complex_than_radon_15():
    """ruff's McCabe count ignores boolean operators and conditional expressions; radon's
    counts them (.ci/complexity.py, which `tox -e lint` runs too)."""
    spec = importlib.util.spec_from_file_location("complexity", ROOT / ".ci" / "complexity.py")
    complexity = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(complexity)
    assert complexity.LIMIT == 15
    assert complexity.offenders(_tool("radon")) == []
