"""`make bench`: the shop's pages beside bare Flask, notifications per second, the scheduler's sweep and the
large-data figures, one part after another on 127.0.0.1. Prints figures; asserts nothing about time.

    python -m tests.bench [part ...]    (parts: routes notifications sweep large; all by default)
"""
import importlib
import logging
import sys
import tempfile
from pathlib import Path

from tests.bench import report

PARTS = ("routes", "notifications", "sweep", "large")


def main(parts: list[str]) -> None:
    logging.disable(logging.INFO)  # the migrations and the shop log every step; the figures are what counts
    print(f"make bench: {report.machine()}")
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as folder:
        for part in parts:
            lines = importlib.import_module(f"tests.bench.{part}").run(Path(folder))
            for text in lines or ():
                print(text, flush=True)


if __name__ == "__main__":
    unknown = [part for part in sys.argv[1:] if part not in PARTS]
    if unknown:
        sys.exit(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    main(sys.argv[1:] or list(PARTS))
