"""A real nginx for tests: its own config in a temporary folder (`daemon off;`, loopback
ports, no root service), started and stopped by the test. Debian's `nginx` and, for RTMP,
`libnginx-mod-rtmp`, for TCP/TLS proxying (`stream`), `libnginx-mod-stream` (installed by
scripts/ensure-system.sh). ``wrap`` runs it elsewhere (the browser tests' network namespace:
`e2e_harness.Namespace.wrap`)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


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


def module(path: Path, package: str) -> Path:
    """A dynamic nginx module, failed (also locally) when missing: nginx is there."""
    if not path.exists():
        pytest.fail(f"{path} missing: apt-get install {package} "
                    "(scripts/ensure-system.sh installs it)")
    return path


_PROBE = """
import socket, sys, time
deadline = time.monotonic() + {wait}
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
"""


def rtmp_ingest(port: int, recorded: Path) -> str:
    """nginx-rtmp's `rtmp` block: application ``live`` records every stream it gets."""
    return (f"    server {{\n        listen 127.0.0.1:{port};\n        chunk_size 4096;\n"
            f"        application live {{\n            live on;\n            record all;\n"
            f"            record_path {recorded};\n            record_unique on;\n"
            f"        }}\n    }}")


def tls_front(port: int, cert: Path, key: Path, upstream: int) -> str:
    """A `stream` server: TLS ends on ``port`` and the bytes go on to ``upstream``."""
    return (f"    server {{\n        listen 127.0.0.1:{port} ssl;\n"
            f"        ssl_certificate {cert};\n        ssl_certificate_key {key};\n"
            f"        ssl_protocols TLSv1.2 TLSv1.3;\n"
            f"        proxy_pass 127.0.0.1:{upstream};\n    }}")


class Nginx:
    """One nginx: `start()` (again after `stop()`), with the same config and ports."""

    def __init__(self, folder: Path, *, http: str = "", rtmp: str = "", stream: str = "",
                 ports: tuple[int, ...] = (),
                 wrap: Callable[[list[str]], list[str]] | None = None) -> None:
        self.folder = folder
        self.ports = ports
        self.wrap = wrap
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / "temp"
        temp.mkdir(exist_ok=True)
        head = (f"load_module {module(RTMP_MODULE, 'libnginx-mod-rtmp')};\n" if rtmp else "")
        if stream:
            head += f"load_module {module(STREAM_MODULE, 'libnginx-mod-stream')};\n"
        temps = "".join(f"    {name}_temp_path {temp / name};\n"
                        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        http_block = (f"http {{\n    access_log off;\n{temps}{http}\n}}\n" if http else "")
        rtmp_block = f"rtmp {{\n{rtmp}\n}}\n" if rtmp else ""
        rtmp_block += f"stream {{\n{stream}\n}}\n" if stream else ""
        self.conf = folder / "nginx.conf"
        self.log = folder / "error.log"
        self.conf.write_text(
            f"{head}daemon off;\nmaster_process on;\nworker_processes 1;\n"
            f"user root;\npid {folder / 'nginx.pid'};\nerror_log {self.log} info;\n"
            f"events {{ worker_connections 512; }}\n{http_block}{rtmp_block}")

    def start(self) -> None:
        argv = [nginx_binary(), "-c", str(self.conf), "-p", str(self.folder)]
        self.proc = subprocess.Popen(self.wrap(argv) if self.wrap else argv,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for port in self.ports:
            if self.wrap is None:
                wait_port(port, self.proc, self.log)
                continue
            # listening elsewhere: ask from there
            probe = self.wrap([sys.executable, "-c", _PROBE.format(wait=10, port=port)])
            if subprocess.run(probe, check=False).returncode != 0:
                log = self.log.read_text() if self.log.exists() else ""
                raise AssertionError(f"nginx did not listen on {port}: {log}")

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
