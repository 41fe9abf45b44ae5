"""Mutation score per module from mutmut's results: killed / (killed + survived), timeouts count as killed.

    .venv/bin/python scripts/mutation_score.py [--survivors]
"""

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

BIN = Path(sys.executable).parent


def main() -> None:
    out = subprocess.run([str(BIN / "mutmut"), "results", "--all", "true"], capture_output=True, text=True,
                         check=True).stdout
    counts: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name or status == "not checked":
            continue
        module = name.split(".x_")[0].split(".xǁ")[0]
        counts[module][status] += 1
        if status == "survived":
            survivors.append(name)
    print(f"{'module':45} {'killed':>7} {'survived':>8} {'timeout':>7} {'no tests':>8} {'score':>6}")
    for module, c in sorted(counts.items()):
        killed = c["killed"] + c["timeout"]
        tried = killed + c["survived"]
        print(f"{module:45} {c['killed']:7} {c['survived']:8} {c['timeout']:7} {c['no tests']:8} "
              f"{killed / tried if tried else 0:6.1%}")
    if "--survivors" in sys.argv:
        print("\n".join(["", "survivors:", *survivors]))


if __name__ == "__main__":
    main()
