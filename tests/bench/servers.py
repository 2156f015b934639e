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


def wait_until(condition, what: str, process: subprocess.Popen | None = None, timeout: float = 60,
               interval: float = 0.1):
    """Poll ``condition`` until it returns something truthy (returned); fail if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise RuntimeError(f"{what}: not within {timeout} s")


def answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
        return True
    except requests.RequestException:
        return False


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    wait_until(lambda: answers(url), f"{url} answering", process, timeout)


@contextmanager
def started(command, env, url=None, cwd=ROOT, log=None, ready=None):
    """Run ``command`` until the block ends; wait until ``url`` answers (or ``ready()`` is true). Yields the
    process; stops it (SIGTERM to its process group, SIGKILL after 30 s) however the block ends."""
    output = open(log, "w") if log else subprocess.DEVNULL
    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=output,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if url:
            wait_until_up(url, process)
        if ready:
            wait_until(ready, f"{command[-1]} ready", process)
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


def gunicorn(module: str, env: dict, log: Path, workers=None, threads=None, port=None):
    """The app under gunicorn with the shop's gunicorn.conf.py, on ``port`` or a free one: (context, url).
    Ready once every worker has loaded the app: a worker still starting would take the first measurement's
    CPU and leave its share of the connections waiting."""
    port = port or free_port()
    workers = workers or os.cpu_count() * 2 + 1  # gunicorn.conf.py's default
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "PYTHONPATH": str(ROOT), "GUNICORN_WORKERS": str(workers)}
    if threads:
        env["GUNICORN_THREADS"] = str(threads)
    url = f"http://127.0.0.1:{port}"
    log = Path(log)
    command = [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), module]

    def every_worker_ready() -> bool:  # gunicorn.conf.py's post_worker_init logs the line
        return log.read_text(errors="replace").count("Worker ready") >= workers

    return started(command, env, url + "/healthz" if module == "wsgi:app" else url, log=log,
                   ready=every_worker_ready), url


def sandbox(directory: Path, env: dict | None = None, log=None):
    """The WeChat Pay sandbox as its own process: (context, url)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "wechatpay-sandbox"), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--keys", str(directory / "keys"), "--database", str(directory / "sandbox.sqlite3"),
               "--public-url", url]
    return started(command, env or {}, url + "/sandbox/api/info", log=log), url


def flask_command(env: dict, *args: str, timeout: float = 120) -> str:
    """Run `flask --app app ...` (an operator's command) with ``env``; its output, or RuntimeError."""
    result = subprocess.run([PYTHON, "-m", "flask", "--app", "app", *args], cwd=ROOT, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def jobs(env: dict, log):
    """The jobs process as the Procfile runs it (`flask --app app jobs run`): a context yielding the process,
    entered once the scheduler says it started (its first line in ``log``)."""
    command = [PYTHON, "-m", "flask", "--app", "app", "jobs", "run"]
    return started(command, env, log=log, ready=lambda: "jobs: " in Path(log).read_text(errors="replace"))


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (gunicorn's master: its workers), from /proc."""
    try:
        return sorted(int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except OSError:
        return []


def kill_a_worker(master_pid: int, timeout: float = 60) -> tuple[int, float]:
    """SIGKILL one gunicorn worker; wait until the master has replaced it. (killed pid, seconds to replace it)."""
    workers = children(master_pid)
    if not workers:
        raise RuntimeError("gunicorn has no workers to kill")
    victim = workers[len(workers) // 2]
    began = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in children(master_pid) and len(children(master_pid)) >= len(workers),
               "gunicorn replacing the killed worker", timeout=timeout, interval=0.05)
    return victim, time.monotonic() - began


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
