"""Processes the benchmarks start on 127.0.0.1 and always stop: gunicorn apps, the sandbox, the jobs process."""
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def started(command, env, url, cwd=ROOT, log=None):
    """Run ``command`` until the block ends; wait until ``url`` answers. Yields the process."""
    output = open(log, "w") if log else subprocess.DEVNULL
    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=output,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(url, process)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if log:
            output.close()


def gunicorn(module: str, env: dict, log=None, workers=None, threads=None):
    """The app under gunicorn with the shop's gunicorn.conf.py, on a free port: (context, url)."""
    port = free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "PYTHONPATH": str(ROOT)}
    if workers:
        env["GUNICORN_WORKERS"] = str(workers)
    if threads:
        env["GUNICORN_THREADS"] = str(threads)
    url = f"http://127.0.0.1:{port}"
    command = [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), module]
    return started(command, env, url + "/healthz" if module == "wsgi:app" else url, log=log), url


def sandbox(directory: Path, env: dict | None = None, log=None):
    """The WeChat Pay sandbox as its own process: (context, url)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "wechatpay-sandbox"), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--keys", str(directory / "keys"), "--database", str(directory / "sandbox.sqlite3"),
               "--public-url", url]
    return started(command, env or {}, url + "/sandbox/api/info", log=log), url


def tree_pids(pid: int) -> list[int]:
    """A process and its children (gunicorn's master and workers)."""
    try:
        return [pid] + [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return [pid]


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children: unlike req/s, it does not
    depend on what else the machine is running."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for each in tree_pids(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def process_tree_rss(pid: int) -> dict[int, tuple[float, float]]:
    """{pid: (current RSS MiB, peak RSS MiB)} of a process and its children (from /proc)."""
    found = {}
    for each in tree_pids(pid):
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{each}/status").read_text().splitlines()
                          if ":" in line)
        except OSError:
            continue
        found[each] = (int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024)
    return found
