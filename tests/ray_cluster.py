"""A real multi-node Ray cluster on loopback for tests: `ray start --block` per node, each in its
own process group, so the test stops exactly the processes it started (never `ray stop`)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalCluster:
    """A head node and ``workers`` worker nodes, ``cpus`` CPUs each, custom resource per node."""

    def __init__(self, logs: Path, *, workers: int = 1, cpus: int = 1) -> None:
        self.logs, self.workers, self.cpus = logs, workers, cpus
        # Token authentication as on a real cluster: nodes and drivers share one token.
        self.environment = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
        # Worker nodes refuse to join when the tests' single-machine switch is on.
        self.node_environment = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
        # Ray's socket paths must stay under 107 bytes: a short session folder, not pytest's
        self.folder = Path(tempfile.mkdtemp(prefix="vgray", dir="/tmp"))
        self.port = free_port()
        # Each node on its own loopback address: Ray rewrites 127.0.0.1 to the machine's
        # interface address, but not 127.0.0.2 and up, so all traffic stays on loopback.
        self.address = f"127.0.0.2:{self.port}"
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> LocalCluster:
        try:
            self._start_nodes()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start_nodes(self) -> None:
        ray = str(Path(sys.executable).with_name("ray"))
        common = ["--block", "--disable-usage-stats", f"--num-cpus={self.cpus}"]
        self._start([ray, "start", "--head", "--node-ip-address=127.0.0.2", f"--port={self.port}",
                     "--include-dashboard=false",
                     f"--dashboard-agent-listen-port={free_port()}",
                     f"--temp-dir={self.folder}", "--resources", json.dumps({"head_node": 1}), *common], "head")
        self._wait_for_nodes(1)
        for number in range(self.workers):
            self._start([ray, "start", f"--address={self.address}", f"--node-ip-address=127.0.0.{3 + number}",
                         f"--dashboard-agent-listen-port={free_port()}",
                         "--resources", json.dumps({f"worker_node_{number}": 1}), *common], f"worker{number}")
        self._wait_for_nodes(1 + self.workers)

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            _stop_group(process)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _start(self, command: list[str], name: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "w")
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                               env={**self.node_environment, **self.environment}))

    def _wait_for_nodes(self, count: int, timeout: float = 90) -> None:
        probe = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
                 "print(sum(n['Alive'] for n in ray.nodes()))")
        deadline = time.time() + timeout
        while time.time() < deadline:
            dead = [p.args[2] for p in self.processes if p.poll() is not None]
            if dead:
                raise RuntimeError(f"ray start exited early; see the logs in {self.logs}")
            try:
                result = subprocess.run([sys.executable, "-c", probe, self.address], capture_output=True, text=True,
                                        timeout=30, env={**os.environ, **self.environment})
            except subprocess.TimeoutExpired:
                continue
            if result.returncode == 0 and result.stdout.strip().isdigit() and int(result.stdout.strip()) >= count:
                return
            time.sleep(1)
        raise RuntimeError(f"Ray cluster at {self.address} did not reach {count} nodes; see {self.logs}/*.log")


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the node's process group (ray start --block then stops its processes), wait a
    little, and SIGKILL whatever of that group is left (a test cluster needs no graceful drain)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    time.sleep(1)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)


def descendants(pid: int) -> list[int]:
    """PIDs of every process below ``pid`` (from /proc; no psutil needed)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
