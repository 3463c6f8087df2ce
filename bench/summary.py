#!/usr/bin/env python3
"""`make bench`'s closing table: every target the benchmarks of this run
recorded (bench/servers.py record_target, JSON lines in the file named as the
first argument), with met / not met.

    bench/summary.py SUMMARY_FILE [--quick]

Exit status 0 either way: a target not met is a finding to read, not a
failure of the run (a benchmark that crashed already failed `make bench`).
"""

import json
import sys


def main():
    path = sys.argv[1]
    quick = "--quick" in sys.argv[2:]
    try:
        rows = [json.loads(line) for line in open(path) if line.strip()]
    except FileNotFoundError:
        rows = []
    title = "Summary" + (" (QUICK smoke sizes on whatever machine this is: not results)" if quick else "")
    print(f"\n== {title}\n")
    if not rows:
        print("no targets recorded")
        return
    verdict = {True: "met", False: "NOT MET", None: "-"}
    cells = [("bench", "target", "measured", "goal", "verdict")] + [
        (r["bench"], r["target"], r["measured"], r["goal"], verdict[r["met"]]) for r in rows
    ]
    widths = [max(len(str(c[i])) for c in cells) for i in range(5)]
    for n, c in enumerate(cells):
        print("| " + " | ".join(str(v).ljust(w) for v, w in zip(c, widths)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    judged = [r for r in rows if r["met"] is not None]
    print(f"\n{sum(1 for r in judged if r['met'])} of {len(judged)} targets met")


if __name__ == "__main__":
    main()
