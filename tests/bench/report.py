"""How every part of `make bench` prints its figures: one aligned line per measurement."""
import os
import platform
from datetime import datetime, timezone


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``samples`` (nearest rank); 0 for none."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(label: str, *figures: str) -> None:
    print(f"  {label:<34} " + "  ".join(figures), flush=True)


def memory(rss: dict[int, tuple[float, float]]) -> None:
    """The web processes' RSS, as servers.process_tree_rss gives it."""
    line("shop web processes (RSS now/peak)", "  ".join(f"{now:.0f}/{peak:.0f} MiB" for now, peak in rss.values()))


def heading(text: str) -> None:
    print(f"\n{text}", flush=True)


def machine() -> str:
    """The date and the machine, for the README's performance section."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(row.split(":", 1)[1].strip() for row in cpuinfo if row.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return (f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({model}), "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")
