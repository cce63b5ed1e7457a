"""Describe the machine a benchmark ran on, and time calls."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _os_name() -> str:
    pretty = next((line.split("=", 1)[1].strip('"') for line in _read("/etc/os-release").splitlines()
                   if line.startswith("PRETTY_NAME=")), platform.platform())
    debian = _read("/etc/debian_version").strip()
    return f"{pretty} ({debian})" if debian else pretty


def _psql_version() -> str | None:
    try:
        return subprocess.run(["psql", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def describe() -> dict:
    """Return the CPU, memory, OS and client versions of this machine."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "psql": _psql_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def sample(call: Callable[[], object], count: int, deadline: float) -> list[float]:
    """Time up to ``count`` calls of ``call`` before the ``time.monotonic()`` deadline; return ms each."""
    samples: list[float] = []
    while len(samples) < count and time.monotonic() < deadline:
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentiles(samples: list[float]) -> dict:
    """Return the count, p50, p95, p99 and max of ``samples`` (ms)."""
    cuts = statistics.quantiles(samples * 2 if len(samples) < 2 else samples, n=100, method="inclusive")
    return {
        "requests": len(samples),
        "p50_ms": round(cuts[49], 2),
        "p95_ms": round(cuts[94], 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(max(samples), 2),
    }


def proc_stat(path: str) -> tuple[str, float] | None:
    """Return the command name and CPU seconds (user + system) in a /proc ``stat`` file; None once it is gone."""
    stat = _read(path)
    if ")" not in stat:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return stat[stat.index("(") + 1 : stat.rindex(")")], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ticks() -> tuple[int, int]:
    """Return the machine's (steal, total) CPU ticks so far, all CPUs together, from /proc/stat (zeros elsewhere)."""
    line = _read("/proc/stat").split("\n", 1)[0].split()
    if not line or line[0] != "cpu":
        return 0, 0
    ticks = [int(field) for field in line[1:9]]  # user nice system idle iowait irq softirq steal
    return ticks[7], sum(ticks)


def steal_percent(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Return the share of CPU time the hypervisor gave to others between two ``cpu_ticks()`` readings."""
    total = after[1] - before[1]
    return round(100 * (after[0] - before[0]) / total, 1) if total > 0 else 0.0


def _process_cpu() -> dict[int, tuple[str, float]]:
    """Return each live process's command name and CPU seconds so far, by pid."""
    found = {int(entry.name): proc_stat(f"{entry}/stat") for entry in Path("/proc").iterdir() if entry.name.isdigit()}
    return {pid: stat for pid, stat in found.items() if stat is not None}


class CpuAccount:
    """CPU seconds each kind of process spent between ``start()`` and ``stop()``, from /proc.

    This process is counted as ``this process`` (all threads) and thread by
    thread (``thread <name>``, read every half second while it runs, so a
    thread that ends in between keeps what it had used by its last reading);
    the other processes by command name (``postgres``, ``imap``...). A process
    that exits in between is missed.
    """

    def start(self) -> CpuAccount:
        self._before = _process_cpu()
        self._threads: dict[int, tuple[str, float]] = {}
        self._first = self._thread_cpu()
        self._done = threading.Event()
        self._watch = threading.Thread(target=self._follow, name="cpu-account", daemon=True)
        self._watch.start()
        return self

    def _thread_cpu(self) -> dict[int, float]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        found = {int(task.name): proc_stat(f"{task}/stat") for task in Path("/proc/self/task").iterdir()}
        now = {tid: stat[1] for tid, stat in found.items() if stat is not None}
        for tid, seconds in now.items():
            self._threads[tid] = (names.get(tid, self._threads.get(tid, (str(tid), 0))[0]), seconds)
        return now

    def _follow(self) -> None:
        while not self._done.wait(0.5):
            self._thread_cpu()

    def stop(self) -> dict[str, float]:
        """Return CPU seconds by kind, largest first."""
        self._done.set()
        self._watch.join()
        self._thread_cpu()
        after, me = _process_cpu(), os.getpid()
        spent: dict[str, float] = {}
        for tid, (name, seconds) in self._threads.items():
            kind = f"thread {name}"
            spent[kind] = spent.get(kind, 0.0) + seconds - self._first.get(tid, 0.0)
        for pid, (name, seconds) in after.items():
            used = seconds - self._before.get(pid, (name, 0.0))[1]
            if used > 0:
                kind = "this process" if pid == me else name
                spent[kind] = spent.get(kind, 0.0) + used
        return {kind: round(s, 2) for kind, s in sorted(spent.items(), key=lambda kv: -kv[1]) if s >= 0.01}


def calibrate(rounds: int = 3) -> float:
    """Return the fastest of ``rounds`` timings (ms) of a pure-Python loop of 3,000,000 additions.

    On a shared virtual machine the same code runs up to twice as slowly when
    the host is busy; this number, taken before and after a figure, says how
    fast the machine was then (about 200 ms on a quiet 2-core EPYC VM).
    """
    best = float("inf")
    for _ in range(rounds):
        started, total = time.perf_counter(), 0
        for i in range(3_000_000):
            total += i
        best = min(best, (time.perf_counter() - started) * 1000)
    return round(best, 1)


class GcPauses:
    """Time the garbage collector's runs inside ``with`` blocks (gc.callbacks), all blocks together."""

    def __init__(self):
        self.pauses: list[float] = []
        self._started: float | None = None

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.pauses.append(time.perf_counter() - self._started)
            self._started = None

    def __enter__(self):
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self._callback)
        self._started = None

    def summary(self) -> dict:
        """Return how many collections ran, their total and their longest pause, in ms."""
        return {"collections": len(self.pauses), "total_ms": round(1000 * sum(self.pauses), 1),
                "max_ms": round(1000 * max(self.pauses, default=0.0), 1)}
