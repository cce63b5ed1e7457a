"""Run the benchmarks: ``python -m bench [--only NAME] [--sizes 100000,1000000] [--cases CASE,CASE]``."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.machine import describe

BENCHMARKS = {"tickets_list": "bench.tickets_list", "email_intake": "bench.email_intake", "sla": "bench.sla",
              "chat": "bench.chat"}
RESULTS = Path(__file__).resolve().parent / "results"


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("sizes are whole numbers, comma-separated") from None
    if not sizes or min(sizes) < 100:
        raise argparse.ArgumentTypeError("give at least one size of 100 tickets or more")
    return sorted(set(sizes))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append",
                        help="run only this benchmark (repeatable; default: all)")
    parser.add_argument("--sizes", type=_sizes, default=[100_000, 1_000_000],
                        help="ticket counts, comma-separated (default: 100000,1000000)")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per case (default: 300)")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests first (default: 30)")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds at most per case and size (default: 30)")
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN (ANALYZE, BUFFERS) of each case's ticket queries")
    parser.add_argument("--cases", type=lambda v: [c.strip() for c in v.split(",") if c.strip()],
                        help="email_intake and sla: only these figures, comma-separated "
                             "(throughput,latency,crash; breach,redis_restarts,acknowledgements; "
                             "rt1000,rt5000,restarts,modes)")
    parser.add_argument("--messages", type=int, help="email_intake throughput: messages (default: 10000)")
    parser.add_argument("--tickets", type=int, help="sla breach: running timers (default: 10000)")
    parser.add_argument("--seconds", type=float, help="chat: seconds of messages per round-trip figure (default: 30)")
    parser.add_argument("--servers", type=int, help="chat: web processes for the round-trip figures (default: 1)")
    parser.add_argument("--profile", action="store_true", help="email_intake throughput: print a cProfile")
    return parser.parse_args(argv)


def size_label(size: int) -> str:
    """Return 100k, 1M and the like."""
    for unit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def summarise(report: dict) -> list[dict]:
    """Return one row per case: each size's percentiles, the p95 ratio largest/smallest, and the verdict."""
    goals = report["goals"]
    rows: dict[str, dict] = {}
    for result in report["results"]:
        row = rows.setdefault(result["case"], {"case": result["case"], "in_goal": result["in_goal"], "sizes": {}})
        row["sizes"][result["size"]] = result
    for row in rows.values():
        sizes = sorted(row["sizes"])
        p95s = [row["sizes"][s]["p95_ms"] for s in sizes]
        row["ratio"] = round(p95s[-1] / p95s[0], 2) if len(sizes) > 1 and p95s[0] else None
        row["meets_goal"] = max(p95s) <= goals["p95_ms"] and (row["ratio"] is None or row["ratio"] <= goals["ratio"])
    return list(rows.values())


def _verdict(row: dict) -> str:
    if not row["in_goal"]:
        return "(not in goal)"
    return "yes" if row["meets_goal"] else "**no**"


def markdown(report: dict, machine: dict, sizes: list[int]) -> str:
    """Return a results table ready to paste into docs/benchmarks.md."""
    head = ["Case"] + [f"{k} {size_label(s)}" for s in sizes for k in ("p50", "p95", "p99")]
    if len(sizes) > 1:
        head.append(f"p95 {size_label(sizes[-1])}/{size_label(sizes[0])}")
    head.append(f"Goal (p95 ≤ {report['goals']['p95_ms']:g} ms, ratio ≤ {report['goals']['ratio']:g})")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in summarise(report):
        cells = [row["case"]]
        for size in sizes:
            result = row["sizes"].get(size)
            cells += [f"{result[k]:.1f}" if result else "–" for k in ("p50_ms", "p95_ms", "p99_ms")]
        if len(sizes) > 1:
            cells.append(f"{row['ratio']:.2f}" if row["ratio"] is not None else "–")
        cells.append(_verdict(row))
        lines.append("| " + " | ".join(cells) + " |")
    loads = {r["size"]: r["load_seconds"] for r in report["results"] if r["load_seconds"]}
    notes = [f"Machine: {machine['cpus']} cores ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
             f"{machine['os']}, PostgreSQL {report['database']['server']}, Python {machine['python']}.",
             "Times in ms of server time per request (in-process test client)."]
    if loads:
        notes.append("Load times: " + ", ".join(f"{size_label(s)} in {t:.0f} s" for s, t in sorted(loads.items()))
                     + ".")
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def _print_table(report: dict) -> None:
    print(f"\n{'case':34} {'size':>9} {'n':>5} {'p50':>8} {'p95':>8} {'p99':>8} {'ratio':>6}  goal")
    for row in summarise(report):
        for size, result in sorted(row["sizes"].items()):
            last = size == max(row["sizes"])
            ratio = f"{row['ratio']:.2f}" if last and row["ratio"] is not None else ""
            print(f"{row['case']:34} {size:>9} {result['requests']:>5} {result['p50_ms']:>8.2f} "
                  f"{result['p95_ms']:>8.2f} {result['p99_ms']:>8.2f} {ratio:>6}  {_verdict(row) if last else ''}")


def _log_progress() -> None:
    # A handler of its own: Alembic's fileConfig() resets the root logger when migrations run.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log = logging.getLogger("bench")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; print, save and summarise their results."""
    args = parse_args(argv)
    _log_progress()
    machine = describe()
    started = datetime.now(UTC)
    reports = [importlib.import_module(BENCHMARKS[name]).run(args) for name in (args.only or sorted(BENCHMARKS))]
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"started_at": started.isoformat(), "argv": sys.argv[1:], "machine": machine,
                                "benchmarks": reports}, indent=2) + "\n")
    failed = False
    for report in reports:
        module = importlib.import_module(BENCHMARKS[report["name"]])
        if hasattr(module, "markdown"):  # end-to-end figures summarise themselves
            print(f"\nMarkdown for docs/benchmarks.md ({report['name']}):\n")
            print(module.markdown(report))
            failed |= module.failed(report)
            continue
        _print_table(report)
        print(f"\nMarkdown for docs/benchmarks.md ({report['name']}):\n")
        print(markdown(report, machine, args.sizes))
        failed |= any(row["in_goal"] and not row["meets_goal"] for row in summarise(report))
    print(f"Results written to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
