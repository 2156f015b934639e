"""Drive a URL with wrk (the Debian package) and read its figures."""
import re
import shutil
import subprocess
from dataclasses import dataclass

THREADS, CONNECTIONS = 2, 16
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Figures:
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers and socket errors
    output: str = ""  # what wrk printed (a script's own lines too)

    def text(self) -> str:
        errors = f"  {self.errors} errors" if self.errors else ""
        return f"{self.requests_per_second:8.0f} req/s  p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms{errors}"


def available() -> bool:
    return shutil.which("wrk") is not None


def milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * UNITS[unit]


def run(url: str, seconds: float = 5, headers: dict | None = None, script=None, script_args=()) -> Figures:
    """Drive ``url`` for ``seconds``; ``script`` (a Lua file) makes the requests, with ``script_args``."""
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", str(script), url, "--", *map(str, script_args)]
    else:
        command.append(url)
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    total = int(re.search(r"(\d+) requests in", output).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = milliseconds(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = milliseconds(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Figures(total, rate, p50, p99, errors, output)
