"""``make bench``: run every benchmark and write docs/benchmarks.md with the machine, the
commands and the figures. Needs PostgreSQL (BENCH_DATABASE_URL, default the local server's
rms_bench database, which it drops and creates).

    .venv/bin/python bench/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, machine

BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    # (name, full arguments, quick arguments)
    ("inbound", ["--messages", "3000"], ["--messages", "300"]),
    (
        "pkb_historic",
        ["--patients", "200", "--items", "200"],
        ["--patients", "10", "--items", "50"],
    ),
    # The historic upload against a PKB that answers in 100 ms, one message in flight: bound
    # by PKB's round trip (1,000 patients, 20 results each: 2,000 messages, about 200 s).
    (
        "pkb_historic",
        ["--patients", "1000", "--items", "20", "--rtt-ms", "100"],
        ["--patients", "20", "--items", "20", "--rtt-ms", "100"],
    ),
    # The same with four in flight (PKB_MAX_IN_FLIGHT=4, four dispatchers): target at most
    # 30% of the one-in-flight sending time (the "pkb_in_flight" section compares the two).
    (
        "pkb_historic",
        ["--patients", "1000", "--items", "20", "--rtt-ms", "100", "--in-flight", "4"],
        ["--patients", "20", "--items", "20", "--rtt-ms", "100", "--in-flight", "4"],
    ),
    # Storing-mode filing with 1, 2 and 4 filers on the same backlog (one filer the baseline).
    (
        "filers",
        ["--messages", "2000", "--patients", "400"],
        ["--messages", "200", "--patients", "50"],
    ),
    ("monitoring", [], ["--plans", "2000"]),
    ("pages", ["--patients", "50000"], ["--patients", "2000"]),
    # Importing a cohort's history (docs/operations.md, "Going live"): about 30 s.
    (
        "import_history",
        ["--results", "20000", "--patients", "1000"],
        ["--results", "2000", "--patients", "100"],
    ),
]


def run(name: str, args: list[str]) -> tuple[str, dict[str, object]]:
    command = [sys.executable, f"bench/{name}.py", *args]
    shown = " ".join([".venv/bin/python", f"bench/{name}.py", *args])
    completed = subprocess.run(  # noqa: S603
        command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=3600
    )
    line = [row for row in completed.stdout.splitlines() if row.startswith("{")][-1]
    return shown, json.loads(line)


def table(rows: list[dict[str, object]]) -> str:
    keys = list(dict.fromkeys(key for row in rows for key in row))  # every row's, in order
    head = "| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n"
    return head + "".join("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |\n" for r in rows)


def in_flight_comparison(results: list[dict[str, object]]) -> str:
    """The upload at a 100 ms round trip with one and with four in flight, side by side."""
    slow = {
        r.get("in_flight"): r
        for r in results
        if r.get("benchmark") == "pkb_historic" and r.get("simulated_rtt_ms")
    }
    if 1 not in slow or 4 not in slow:
        return ""
    one, four = float(str(slow[1]["send_wall_s"])), float(str(slow[4]["send_wall_s"]))
    row: dict[str, object] = {
        "send_wall_s_one_in_flight": one,
        "send_wall_s_four_in_flight": four,
        "ratio": round(four / one, 2),
        "target_ratio": 0.3,
        "met": four / one <= 0.3,
    }
    return f"## pkb_in_flight\n\nThe two runs above compared.\n\n{table([row])}"


def earlier_sections(existing: str, skip: set[str]) -> list[str]:
    """The figures of benchmarks not run this time (``--only``), as the last run left them."""
    if "<!-- figures -->" not in existing:
        return []
    figures = existing.split("<!-- figures -->", 1)[1]
    chunks = re.split(r"(?m)^(?=## )", figures)[1:]
    return [c.rstrip("\n") + "\n" for c in chunks if c.split("\n", 1)[0][3:].strip() not in skip]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", action="append", help="run only these benchmarks")
    args = parser.parse_args()
    sections = []
    results: list[dict[str, object]] = []
    for name, full, quick in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        if not (ROOT / "bench" / f"{name}.py").exists():
            continue
        shown, result = run(name, quick if args.quick else full)
        print(json.dumps(result))
        results.append(result)
        body = result.get("results")
        rows = (
            body
            if isinstance(body, list)
            else [{k: v for k, v in result.items() if k != "benchmark"}]
        )
        sections.append(f"## {name}\n\n`{shown}`\n\n{table(rows)}")
    comparison = in_flight_comparison(results)
    if comparison:
        sections.append(comparison)
    output = ROOT / "docs" / "benchmarks.md"
    existing = output.read_text() if output.exists() else ""
    if args.only:
        ran = {name for name, _, _ in BENCHMARKS if name in args.only}
        if "pkb_historic" in ran:
            ran.add("pkb_in_flight")  # made from the pkb_historic runs, so made again
        sections += earlier_sections(existing, ran)
    notes = existing.split("<!-- figures -->", 1)[0] if "<!-- figures -->" in existing else ""
    output.write_text(
        (notes or "# Benchmarks\n\nWritten by `make bench` (bench/run_all.py).\n\n")
        + "<!-- figures -->\n\n"
        + f"Run on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}"
        + (
            f" ({', '.join(args.only)} only; the other figures are from an earlier run)"
            if args.only
            else ""
        )
        + ".\n\n"
        + "\n".join(sections)
    )


if __name__ == "__main__":
    main()
