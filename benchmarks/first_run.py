"""Where the time of a first `zoo run --all` goes: the default command (quick preset, the
bundled digits, CNN and ViT) in a fresh process and a fresh folder, its phases read back
from the facts it saved.

    python benchmarks/first_run.py

Prints a table of seconds per phase; the goal (#22) is a total of at most 45 s on a 2-core
machine. The first fold of each model includes tracing its train, test and predict steps;
"first-fold overhead" is that fold's extra time over the mean of the others.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
ENV.pop("ZOO_DATA_DIR", None)
ENV.pop("ZOO_PLUGINS", None)


def seconds(*argv, cwd=None, env=ENV) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main():
    python = sys.executable
    bare = seconds(python, "-c", "pass")
    zoo_import = seconds(python, "-c", "import zoo.cli")
    tf_import = seconds(python, "-c", "from zoo.backend import import_tf; import_tf()")
    with tempfile.TemporaryDirectory() as folder:
        env = {**ENV, "HOME": folder}   # no ~/.zoo/data: the bundled digits only
        total = seconds(python, "-m", "zoo.cli", "run", "--all", "-q", cwd=folder, env=env)
        results = Path(folder) / "results"
        run = json.loads(next(results.glob("digits/*/run.json")).read_text())
        folds = {}
        for path in sorted(results.glob("digits/*/*/fold-*.json")):
            folds.setdefault(path.parent.name, []).append(json.loads(path.read_text()))
        t0 = time.perf_counter()
        from zoo.show import report   # in this process: the report's own time
        report.render(results, Path(folder) / "again")
        render = time.perf_counter() - t0
    rows = [("Python start", bare), ("importing zoo (no TensorFlow)", zoo_import - bare),
            ("importing and starting TensorFlow", tf_import - zoo_import),
            ("loading digits, leakage check, splits", run["timings"]["prepare"]),
            ("building and checking every model", run["timings"]["check"])]
    cells = 0.0
    for model, facts in folds.items():
        later = [f["wall_seconds"] for f in facts[1:]]
        overhead = facts[0]["wall_seconds"] - sum(later) / len(later)
        rows.append((f"{model}: first-fold overhead (tracing)", overhead))
        rows.append((f"{model}: training, {len(facts)} folds", sum(f["fit_seconds"] for f in facts)
                     - overhead))
        for key, what in (("predict_seconds", "predictions"), ("explain_seconds",
                                                                "galleries and saliency maps"),
                          ("keep_seconds", "keeping the fold models (.keras)")):
            rows.append((f"{model}: {what}", sum(f.get(key, 0.0) for f in facts)))
        cells += sum(f["wall_seconds"] for f in facts)
    rows.append(("report (figures, statistics, HTML)", render))
    accounted = tf_import + run["timings"]["prepare"] + run["timings"]["check"] + cells + render
    rows.append(("everything else", total - accounted))
    width = max(len(r[0]) for r in rows)
    print(f"`zoo run --all` on the bundled digits, quick preset, fresh process: {total:.1f} s "
          f"(goal: <= 45 s)\n")
    for what, s in rows:
        print(f"  {what:<{width}}  {s:6.1f} s")
    print(f"  {'total':<{width}}  {total:6.1f} s")


if __name__ == "__main__":
    main()
