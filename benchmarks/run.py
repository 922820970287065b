"""`make bench`: every dlcli-vs-baseline benchmark, alternating runs, medians, one table.

Then the data-path benchmark (benchmarks/data_paths.py) and the comparison with
scikit-learn's MLP (benchmarks/peers.py) print their own tables.

Usage: python benchmarks/run.py [--repeats 3] [--quick]   (--quick: the one table only)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ceiling  # noqa: E402
import endtoend  # noqa: E402
import predict  # noqa: E402
import serve  # noqa: E402
import tutorial  # noqa: E402
from common import PYTHON, machine, table  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="only the one table")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = [
        *tutorial.measure(args.repeats),
        *ceiling.measure(args.repeats),
        *endtoend.measure(args.repeats),
        *predict.measure(args.repeats),
        *serve.measure(args.repeats),
    ]
    print(f"dlcli benchmarks, medians of {args.repeats} alternating runs; {machine()}")
    print(table(rows))
    print(f"({time.perf_counter() - start:.0f} s)")
    if not args.quick:
        for script in ("data_paths.py", "peers.py"):
            print(f"\n== {script}")
            subprocess.run([PYTHON, str(HERE / script), "--repeats", str(args.repeats)], check=True)


if __name__ == "__main__":
    main()
