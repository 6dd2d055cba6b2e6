"""No function in zoo/ or plugins/ above radon's cyclomatic complexity LIMIT. ruff's McCabe
count (C901, limit 10) ignores boolean operators and conditional expressions; radon counts
them. Used by `tox -e lint` and tests/test_architecture.py. Prints the offenders; exit 1 if
any."""
import re
import subprocess
import sys
from pathlib import Path

LIMIT = 15
ROOT = Path(__file__).resolve().parents[1]


def offenders(radon: str = "radon") -> list:
    done = subprocess.run([radon, "cc", "-s", "-n", "C", "zoo", "plugins"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return [line.strip() for line in done.stdout.splitlines()
            if (m := re.search(r"\((\d+)\)$", line)) and int(m.group(1)) > LIMIT]


if __name__ == "__main__":
    found = offenders(*sys.argv[1:2])
    print("\n".join(found) or f"no function above radon complexity {LIMIT}")
    sys.exit(1 if found else 0)
