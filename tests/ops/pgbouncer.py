"""A private PgBouncer in transaction pooling in front of the test PostgreSQL, for tests and
benchmarks. Debian's `pgbouncer` package (.ci/run and bench/multihost.py install it as root);
it refuses to run as root, so it runs as the postgres user then."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BINARY_PATHS = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next((p for p in BINARY_PATHS if os.path.exists(p)), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgBouncer:
    """`with PgBouncer(host, port, pool_size=4) as bouncer: bouncer.port` — every database of the
    server behind it, by name, with trust authentication (as the local test server has)."""

    def __init__(self, server_host: str = "127.0.0.1", server_port: int = 5432, *, pool_size: int = 4,
                 max_client_conn: int = 500, user: str = "postgres") -> None:
        self.server_host, self.server_port = server_host, server_port
        self.pool_size, self.max_client_conn, self.user = pool_size, max_client_conn, user
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="cq-pgbouncer-"))
        self.process: subprocess.Popen | None = None

    def config(self) -> str:
        d = self.directory
        return "\n".join([
            "[databases]",
            f"* = host={self.server_host} port={self.server_port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {d / 'userlist.txt'}",
            "pool_mode = transaction",
            f"default_pool_size = {self.pool_size}",
            f"max_client_conn = {self.max_client_conn}",
            f"max_db_connections = {self.pool_size * 4}",
            # psycopg sends no startup options we need; refuse nothing a driver might send.
            "ignore_startup_parameters = extra_float_digits,options",
            f"logfile = {d / 'pgbouncer.log'}",
            f"pidfile = {d / 'pgbouncer.pid'}",
            "",
        ])

    def start(self) -> PgBouncer:
        binary = pgbouncer_binary()
        if binary is None:
            raise FileNotFoundError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
        (self.directory / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (self.directory / "pgbouncer.ini").write_text(self.config())
        command = [binary, str(self.directory / "pgbouncer.ini")]
        if os.geteuid() == 0:
            shutil.chown(self.directory, user=self.user)
            for path in self.directory.iterdir():
                shutil.chown(path, user=self.user)
            command[1:1] = ["-u", self.user]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"pgbouncer exited: {self.process.stderr.read().decode()}") from None
                time.sleep(0.05)
        raise RuntimeError("pgbouncer did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
