"""Describe the machine a benchmark ran on, and time calls."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
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
