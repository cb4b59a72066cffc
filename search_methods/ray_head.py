"""A private Ray head on this machine, for the executor's tests and benchmark.

    with RayHead(cpus=2) as head:            # ray start --head on 127.0.0.1, free ports, a private temp dir
        subprocess.run([..., "--executor", "ray", "--address", head.address], env=head.env)

It is stopped by killing exactly its own processes (the start command's process group and all
their descendants, Ray's workers included): ``ray stop`` would kill every Ray process on the
machine. ``env`` carries a random auth token (``RAY_AUTH_MODE=token``): drivers connect with it and
nothing else on the machine can.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from search_methods.executor import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, command line) of every live process we can read."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (name) ": state, ppid, pgrp, ...
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), int(fields[2]), cmdline)
    return table


class RayHead:
    def __init__(self, cpus: int = 2):
        self.cpus = cpus
        self.address: str | None = None
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self._group: int | None = None
        self._temp_dir: str | None = None

    def start(self) -> "RayHead":
        self._temp_dir = tempfile.mkdtemp(prefix="rayx", dir="/tmp")  # Ray's socket paths must stay short
        port = free_port()
        ports = [x for flag in ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                                "--metrics-export-port", "--runtime-env-agent-port") for x in (flag, str(free_port()))]
        log_path = Path(self._temp_dir) / "start.log"
        with open(log_path, "w") as log:  # not a pipe: the daemons it starts inherit its output
            start = subprocess.Popen(
                [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--node-ip-address", "127.0.0.1",
                 "--port", str(port), "--num-cpus", str(self.cpus), "--num-gpus", "0", "--temp-dir", self._temp_dir,
                 "--include-dashboard", "false", "--disable-usage-stats", "--object-store-memory", str(100 * 2**20),
                 *ports],
                env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self._group = start.pid
            if start.wait(timeout=300) != 0:
                self.stop()
                raise RuntimeError(f"ray start failed:\n{log_path.read_text()}")
        self.address = f"127.0.0.1:{port}"
        return self

    def own_processes(self, table: dict | None = None) -> set[int]:
        table = processes() if table is None else table
        own = {pid for pid, (_, group, _) in table.items() if group == self._group}
        while True:
            children = {pid for pid, (parent, _, _) in table.items() if parent in own} - own
            if not children:
                return own
            own |= children

    def busy_workers(self) -> list[int]:
        """This head's worker processes that are running an executor task right now."""
        table = processes()
        return [pid for pid in self.own_processes(table) if table[pid][2].startswith("ray::_ray_task")]

    def stop(self) -> None:
        if self._group is not None:
            for pid in self.own_processes():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._group = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> "RayHead":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
