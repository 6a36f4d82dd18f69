"""Instructions per in-process POST /send under callgrind: ``python bench/instructions.py``.

Wall time and CPU time on a shared machine move by 2× between runs; the count of
instructions does not. For each case (bare Falcon: bench/bare_app.py; the service's floor:
the discard transport) this runs bench/cpu_profile.py's in-process loop (the WSGI app called
directly, no test client; the service logging as when serving) under ``valgrind
--tool=callgrind`` twice, with WARM_UP requests and then with WARM_UP + N, and divides the
difference by N: start-up, imports and the first requests cancel out. Needs
valgrind (``apt-get install valgrind``); about a minute per case.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WARM_UP = 50
CASES = ("bare", "discard")


def child(transport: str, requests: int) -> None:
    """In the process valgrind runs: WARM_UP + ``requests`` sends, nothing printed."""
    from cpu_profile import sender

    with tempfile.TemporaryDirectory() as scratch, sender(transport, scratch) as send:
        for _ in range(WARM_UP + requests):
            send()


def instructions(transport: str, requests: int) -> int:
    """The instructions callgrind counts for one child run."""
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={scratch}/out",
                sys.executable,
                __file__,
                "--child",
                transport,
                str(requests),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=BENCH,
            # The same string hashes in every run: sets and dicts lay out, and so cost, alike.
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    found = re.findall(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"callgrind failed:\n{done.stderr[-2000:]}")
    return int(found[-1])


def per_request(transport: str, requests: int) -> int:
    return round((instructions(transport, requests) - instructions(transport, 0)) / requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=300, help="requests counted (default 300)")
    parser.add_argument("--child", nargs=2, metavar=("TRANSPORT", "N"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child[0], int(options.child[1]))
        return
    counts = {case: per_request(case, options.n) for case in CASES}
    counts["ratio"] = round(counts["discard"] / counts["bare"], 2)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
