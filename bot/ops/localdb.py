"""PostgreSQL and Redis servers on loopback, started from Debian's packages.

Used by ``make cluster`` (:mod:`bot.ops.cluster`) and by the tests (``tests/pgserver.py``): a
PostgreSQL from ``initdb`` in a folder of its own (as the ``postgres`` user when we are root,
because initdb refuses to run as root) and a ``redis-server`` without persistence, each bound to
127.0.0.1 on a free or given port. ``make system-deps`` installs the packages.

A folder that already holds a PostgreSQL data directory is reused (``make cluster`` keeps its
conversations in ``var/cluster/postgres`` between runs); a temporary folder is removed afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries or server: the message says how to get one."""


class RedisUnavailable(RuntimeError):
    """No redis-server binary, or it did not start: the message says how to get one."""


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port free on loopback right now, below the kernel's ephemeral range when possible.

    The kernel's own choice (bind to port 0) comes from the ephemeral range, which outgoing
    connections also use: under load a port picked so could become some client connection's local
    port before the server binds it. Ports are therefore tried at random below that range first.
    """
    upper = min(_ephemeral_start(), 65536)
    rng = random.SystemRandom()
    for _ in range(50):
        port = rng.randrange(max(1024, upper - 12000), upper)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin_dir() -> Path:
    """The newest installed PostgreSQL's ``bin`` folder (Debian layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise PostgresUnavailable("PostgreSQL is not installed: run `make system-deps` (apt-get install postgresql)")
    return Path(found[-1]).parent


def _postgres_user() -> tuple[list[str], pwd.struct_passwd | None]:
    if os.geteuid() != 0:
        return [], None
    # initdb refuses to run as root; Debian's package creates the postgres user.
    try:
        user = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server") from exc
    return ["runuser", "-u", "postgres", "--"], user


@contextmanager
def postgres_server(workdir: Path | None = None, port: int | None = None) -> Iterator[str]:
    """Run a PostgreSQL server on 127.0.0.1 and yield the URL of its ``postgres`` database.

    Args:
        workdir: folder for the data directory, socket and log; reused when it already holds a
            cluster. ``None``: a temporary folder, removed afterwards. When we run as root the
            folder is handed to the ``postgres`` user, so it must be reachable by that user.
        port: the port; a free one when ``None``.

    Raises:
        PostgresUnavailable: not installed, or the server did not start (the message has its log).
    """
    bindir = pg_bin_dir()
    temporary = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="gxga-pg-")) if workdir is None else Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    run_as, user = _postgres_user()
    if user is not None:
        os.chown(workdir, user.pw_uid, user.pw_gid)
    data = workdir / "data"
    port = port or free_port()
    try:
        if not (data / "PG_VERSION").exists():
            subprocess.run(
                run_as
                + [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        subprocess.run(
            run_as
            + [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(workdir / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-F -p {port} -c listen_addresses=127.0.0.1 -k {workdir}",
                "start",
            ],
            # its own session, so a Ctrl-C in the terminal reaches us, not the server
            check=True,
            capture_output=True,
            timeout=90,
            start_new_session=True,
        )
    except subprocess.CalledProcessError as exc:
        log = (workdir / "server.log").read_text(errors="replace") if (workdir / "server.log").exists() else ""
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
        raise PostgresUnavailable(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}\n{log}") from exc
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


def create_database(server_url: str, name: str | None = None, exist_ok: bool = False) -> str:
    """Create a database on the server (a fresh ``kb_…`` name when ``name`` is None); returns its URL.

    Raises:
        ValueError: ``name`` is not a plain identifier (lower-case letters, digits, underscores).
    """
    import sqlalchemy as sa

    name = name or f"kb_{uuid.uuid4().hex[:10]}"
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"database name {name!r} must be lower-case letters, digits and underscores")
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)
    try:
        with engine.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if exists is None:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            elif not exist_ok:
                raise ValueError(f"database {name!r} already exists")
    finally:
        engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def redis_binary() -> str:
    """The ``redis-server`` executable."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        raise RedisUnavailable("redis-server is not installed: run `make system-deps` (apt-get install redis-server)")
    return binary


def redis_ping(port: int, host: str = "127.0.0.1") -> bool:
    """True when a Redis server answers PING on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(workdir: Path | None = None, port: int | None = None) -> Iterator[str]:
    """Run ``redis-server`` on 127.0.0.1 without persistence and yield ``redis://127.0.0.1:PORT/0``.

    Args:
        workdir: folder for its log (and working directory); a temporary one when ``None``.
        port: the port; a free one when ``None``.

    Raises:
        RedisUnavailable: not installed, or it did not answer PING within 20 s.
    """
    binary = redis_binary()
    temporary = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="gxga-redis-")) if workdir is None else Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = open(workdir / "redis.log", "wb")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--protected-mode",
            "yes",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not redis_ping(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log_text = (workdir / "redis.log").read_text(errors="replace")
                raise RedisUnavailable(f"redis-server did not start:\n{log_text}")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
