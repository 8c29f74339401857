"""A throw-away PostgreSQL server on loopback for the tests.

Uses ``TEST_DATABASE_URL`` when set (a server someone already runs); otherwise starts Debian's
PostgreSQL (installed by ``make system-deps``) from ``initdb`` in a temporary folder, on a
free port bound to 127.0.0.1, and removes it afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries or server: the message says how to get one."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresUnavailable("PostgreSQL is not installed: run `make system-deps` (apt-get install postgresql)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of an empty database on a running PostgreSQL server."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    bindir = _bin_dir()
    workdir = Path(tempfile.mkdtemp(prefix="gxga-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root; Debian's package creates the postgres user.
        try:
            user = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server") from exc
        os.chown(workdir, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = workdir / "data"
    port = _free_port()
    try:
        subprocess.run(
            run_as + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )
        subprocess.run(
            run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(workdir / "server.log"), "-w", "-t", "60",
                      "-o", f"-F -p {port} -c listen_addresses=127.0.0.1 -k {workdir}", "start"],
            check=True, capture_output=True, timeout=90,
        )
    except subprocess.CalledProcessError as exc:
        log = (workdir / "server.log").read_text(errors="replace") if (workdir / "server.log").exists() else ""
        shutil.rmtree(workdir, ignore_errors=True)
        raise PostgresUnavailable(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}\n{log}") from exc
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


def create_database(server_url: str) -> str:
    """Create a fresh database on the server; returns its URL."""
    import sqlalchemy as sa

    name = f"kb_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
