"""``make bench``: every benchmark in quick mode, ratios to ``benchmarks/results/latest.json``.

Each module below exposes ``bench(quick) -> {key: entry}`` (see
``benchmarks/common.py``): the ratio baseline seconds / ours, both timed in
the same process on the same inputs after an equality check. Each module
runs in a subprocess of its own (a fresh TensorFlow, its own memory), one
after the other. The README's performance table (between the
``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers) is regenerated
from the file.

Usage (from the repository root)::

    python -m benchmarks.run               # quick mode, every module (<= 10 min, 2 cores)
    python -m benchmarks.run --only heads  # one module; its keys are updated in the file
    python -m benchmarks.run --full        # each module's full mode (much longer)
    python -m benchmarks.run --table-only  # just rewrite the README table from the file
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "latest.json"
README = REPO / "README.md"
MODULES = ("handcrafted", "heads", "verification", "faces", "cnn")
TAG = "BENCH_ENTRIES "
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def run_module(name: str, quick: bool) -> dict:
    """Run ``benchmarks.bench_<name>.bench(quick)`` in a subprocess; its entries."""
    code = (
        "import json, sys\n"
        f"from benchmarks.bench_{name} import bench\n"
        f"out = bench(quick={quick!r})\n"
        f"sys.stdout.write({TAG!r} + json.dumps(out) + '\\n')\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            entries = json.loads(line[len(TAG) :])
            print(f"bench_{name}: {len(entries)} entries in {seconds:.0f} s", flush=True)
            return entries
    sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
    raise SystemExit(f"bench_{name} failed (exit {proc.returncode}) after {seconds:.0f} s")


def machine() -> dict:
    """What the numbers were measured on."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
    }
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                info["cpu"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return info


def _fmt(x: float) -> str:
    return f"{x:.3g}" if x < 10 else f"{x:.0f}"


def table(result: dict) -> str:
    """The README's performance table (markdown) from ``latest.json``."""
    lines = [
        f"Measured by `make bench` ({result.get('mode', 'quick')} mode) on "
        f"{result['machine'].get('cpu', 'this machine')}, {result['machine'].get('cpus')} cores, "
        f"{result.get('date', '')[:10]}; load average at the start "
        f"{result['machine'].get('load_average', ['?'])[0]}. Ratio = baseline time / ours, "
        "same process, same inputs, outputs checked equal first.",
        "",
        "| key | baseline | ours | baseline s | ours s | ratio | goal | equal |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for key, e in sorted(result["entries"].items()):
        if "baseline_s" not in e:  # a measurement, not a ratio (GFLOP/s fraction)
            lines.append(
                f"| `{key}` | {e.get('baseline', '')} | {e.get('ours', '')} | | | "
                f"{e['ratio']:.3f} | | |"
            )
            continue
        goal = e.get("goal")
        mark = "" if goal is None else (" ✓" if e.get("meets_goal") else " ✗")
        lines.append(
            f"| `{key}` | {e['baseline']} | {e['ours']} | {_fmt(e['baseline_s'])} | "
            f"{_fmt(e['ours_s'])} | {e['ratio']:.2f}{mark} | {'' if goal is None else goal} | "
            f"{'yes' if e['equal'].get('ok') else 'NO'} |"
        )
    return "\n".join(lines)


def write_table(result: dict) -> None:
    """Replace the README's block between the bench markers (if present)."""
    text = README.read_text()
    if START not in text or END not in text:
        return
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{table(result)}\n{END}{tail}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=MODULES, help="run these modules only")
    parser.add_argument("--full", action="store_true", help="each module's full mode")
    parser.add_argument("--table-only", action="store_true", help="rewrite the README table")
    args = parser.parse_args(argv)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"entries": {}}
    if args.table_only:
        write_table(previous)
        return previous
    entries = dict(previous.get("entries", {})) if args.only else {}
    t0 = time.perf_counter()
    for name in args.only or MODULES:
        entries.update(run_module(name, quick=not args.full))
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": "full" if args.full else "quick",
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": machine(),
        "entries": entries,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    write_table(result)
    print(table(result))
    missed = [
        k for k, e in entries.items() if e.get("goal") is not None and not e.get("meets_goal")
    ]
    if missed:
        print(f"\nbelow goal: {', '.join(sorted(missed))}")
    return result


if __name__ == "__main__":
    main()
