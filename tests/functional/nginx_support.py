"""A real nginx for tests: its own config in a temporary folder (`daemon off;`, loopback
ports, no root service), started and stopped by the test. Debian's `nginx` and, for RTMP,
`libnginx-mod-rtmp` (installed by scripts/ensure-system.sh)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")


def nginx_binary() -> str:
    """The nginx program; skipped locally, failed in CI, when it is not installed."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if found is None:
        message = "nginx is not installed (scripts/ensure-system.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, wait: float = 10) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited: {log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port}")


class Nginx:
    """One nginx: `start()` (again after `stop()`), with the same config and ports."""

    def __init__(self, folder: Path, *, http: str = "", rtmp: str = "",
                 ports: tuple[int, ...] = ()) -> None:
        self.folder = folder
        self.ports = ports
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / "temp"
        temp.mkdir(exist_ok=True)
        head = f"load_module {RTMP_MODULE};\n" if rtmp else ""
        temps = "".join(f"    {name}_temp_path {temp / name};\n"
                        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        http_block = (f"http {{\n    access_log off;\n{temps}{http}\n}}\n" if http else "")
        rtmp_block = f"rtmp {{\n{rtmp}\n}}\n" if rtmp else ""
        self.conf = folder / "nginx.conf"
        self.log = folder / "error.log"
        self.conf.write_text(
            f"{head}daemon off;\nmaster_process on;\nworker_processes 1;\n"
            f"user root;\npid {folder / 'nginx.pid'};\nerror_log {self.log} info;\n"
            f"events {{ worker_connections 512; }}\n{http_block}{rtmp_block}")

    def start(self) -> None:
        binary = nginx_binary()
        self.proc = subprocess.Popen([binary, "-c", str(self.conf), "-p", str(self.folder)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for port in self.ports:
            wait_port(port, self.proc, self.log)

    def stop(self) -> None:
        """Fast shutdown (SIGTERM): open connections are cut, as when a server goes."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@contextmanager
def running(nginx: Nginx) -> Iterator[Nginx]:
    nginx.start()
    try:
        yield nginx
    finally:
        nginx.stop()
