"""Run a benchmark script once per installed Keras backend, each in a process of its own (a
process runs one backend), and collect the JSON lines it prints (``JSON {...}``)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def installed() -> list:
    """The Keras backends installed here, TensorFlow first."""
    sys.path.insert(0, str(ROOT))
    from zoo.backend import installed as versions

    return [name for name, version in versions().items() if version]


def each_backend(script, args=(), backends=None) -> list:
    """Every JSON line ``script --child *args`` prints under each backend, in order; the
    script's error output names the backend when it fails."""
    rows = []
    for backend in backends or installed():
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        done = subprocess.run([sys.executable, str(script), "--child", *args], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=3600)
        if done.returncode:
            raise SystemExit(f"{backend}: {done.stderr[-3000:]}")
        rows += [json.loads(line[5:]) for line in done.stdout.splitlines()
                 if line.startswith("JSON ")]
    return rows
