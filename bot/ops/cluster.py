"""The production configuration scaled out on one machine: ``python -m bot.ops.cluster`` (``make cluster``).

Starts on loopback, each process in its own process group:

- PostgreSQL (:func:`bot.ops.localdb.postgres_server`; data kept in ``var/cluster/postgres``) with three
  databases: the knowledge base (built into it here), the application tables and Rasa's tracker store;
- Redis (:func:`bot.ops.localdb.redis_server`): Rasa's lock store (db 1) and the WeChat store (db 0);
- ``replicas`` Rasa servers on the same model with ``BOT_ENV=production``
  (``endpoints.production.yml``), each with its own action server;
- ``web_servers`` web servers (``bot.webapp.server``: resident page and staff console), which reach Rasa through
  nginx's internal port, so they do not depend on any one replica;
- nginx in the foreground (``-p var/cluster -c nginx.conf -g 'daemon off;'``), listening on
  127.0.0.1:``CLUSTER_PORT`` (8000): ``/webhooks/`` round-robin over the Rasa replicas, everything
  else (``/``, ``/api/message``, ``/console``) over the web servers; a second, internal port
  balances the whole Rasa API for the web servers. A request that cannot reach a replica
  (connection refused or reset, timeout, 502/503) is passed to the next one.

Ctrl-C stops everything. The tests drive the same class (:class:`Cluster`) on free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import signal
import string
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from bot import config
from bot.ops import localdb
from bot.ops.process import StopSignals
from bot.ops.services import Services, service_env, wait_until_up
from knowledge.db import safe_url

log = logging.getLogger(__name__)

DEFAULT_PORT = 8000
DEFAULT_WORKDIR = config.PROJECT_ROOT / "var" / "cluster"
NGINX_HEALTH = "/nginx-health"


class ClusterError(RuntimeError):
    """A part of the cluster could not be started; the message names it (and its log)."""


def nginx_binary() -> str:
    """The nginx executable (Debian's package puts it in /usr/sbin)."""
    for candidate in ("/usr/sbin/nginx", "/usr/bin/nginx"):
        if Path(candidate).exists():
            return candidate
    import shutil

    found = shutil.which("nginx")
    if not found:
        raise ClusterError("nginx is not installed: run `make system-deps` (apt-get install nginx)")
    return found


class _NginxTemplate(string.Template):
    """``@name`` placeholders: nginx's own variables are written ``$name``."""

    delimiter = "@"


NGINX_TEMPLATE = Path(__file__).with_name("nginx.conf.template")


def nginx_conf(port: int, internal_port: int, rasa_ports: list[int], web_ports: list[int]) -> str:
    """Nginx's configuration, :data:`NGINX_TEMPLATE` filled in.

    Args:
        port: the front door (``CLUSTER_PORT``).
        internal_port: where the web servers reach the Rasa API.
        rasa_ports: the Rasa replicas (upstream ``rasa``, round-robin).
        web_ports: the web servers (upstream ``web``).
    """

    def servers(ports: list[int]) -> str:
        return "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in ports)

    template = _NginxTemplate(NGINX_TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(
        port=port,
        internal_port=internal_port,
        health=NGINX_HEALTH,
        rasa_servers=servers(rasa_ports),
        web_servers=servers(web_ports),
    )


def _tree_rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` and all its descendants, in KiB (``ps -o rss``)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for line in out.splitlines():
        p, pp, r = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
        rss[p] = r
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


@dataclass
class Cluster:
    """Rasa replicas, action servers and web servers behind nginx, on PostgreSQL and Redis.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``postgres_url`` and
    ``redis_url`` name servers to use instead of starting them (e.g. the test session's).
    """

    model: Path
    workdir: Path = DEFAULT_WORKDIR
    port: int = DEFAULT_PORT
    replicas: int = 2
    web_servers: int = 2
    postgres_url: str | None = None
    redis_url: str | None = None
    db_prefix: str = "gxga"
    persistent: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    endpoints: Path | None = None  # another endpoints file for the replicas (bench/bench_lock_store.py)
    api_token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    # the secret each replica's Rasa sends its action server (ACTION_SERVER_TOKEN, else one per cluster)
    action_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.replica_services: list[Services] = []
        self.web_services: list[Services] = []
        self.nginx: subprocess.Popen | None = None
        self.internal_port = 0
        self.pg_url = ""
        self.databases: dict[str, str] = {}
        self.redis_in_use = ""
        self._stack = contextlib.ExitStack()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """nginx, the cluster's front door."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def rasa_urls(self) -> list[str]:
        """Each Rasa replica directly."""
        return [f"http://127.0.0.1:{s.settings.rasa_port}" for s in self.replica_services]

    @property
    def web_urls(self) -> list[str]:
        """Each web server directly."""
        return [f"http://127.0.0.1:{s.settings.web_port}" for s in self.web_services]

    # -- life cycle --------------------------------------------------------------------------

    def __enter__(self) -> "Cluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 240.0) -> None:
        """Start everything; return once every replica, action server, web server and nginx answers.

        Raises:
            ClusterError: a part did not start (everything started so far is stopped again).
        """
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        nginx = nginx_binary()
        for sub in ("logs", "tmp"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        server = self.postgres_url or self._stack.enter_context(
            localdb.postgres_server(self.workdir / "postgres" if self.persistent else None)
        )
        self.pg_url = server
        redis_url = self.redis_url or self._stack.enter_context(localdb.redis_server(self.workdir / "redis"))
        self.redis_in_use = redis_url
        self.databases = {
            role: localdb.create_database(server, f"{self.db_prefix}_{role}", exist_ok=True)
            for role in ("knowledge", "app", "tracker")
        }
        base = self._base_settings(redis_url)
        self._prepare_databases(base)

        self.internal_port = localdb.free_port()
        token = self.api_token
        for _ in range(self.replicas):
            settings = replace(
                base,
                rasa_port=localdb.free_port(),
                action_port=localdb.free_port(),
                rasa_api_token=token,
                action_server_token=base.action_server_token or self.action_token,
            )
            self.replica_services.append(
                Services(settings=settings, model=self.model, extra_env=self.extra_env, endpoints=self.endpoints)
            )
        for _ in range(self.web_servers):
            # The web server's Rasa is nginx's internal port: the page and the console survive a replica.
            settings = replace(base, rasa_port=self.internal_port, web_port=localdb.free_port(), rasa_api_token=token)
            self.web_services.append(Services(settings=settings, model=self.model, extra_env=self.extra_env))
        for i, services in enumerate(self.replica_services, 1):
            self._start_services(services, f"replica-{i}", ("actions", "rasa"))
        for i, services in enumerate(self.web_services, 1):
            self._start_services(services, f"web-{i}", ("web",))
        for services in self.replica_services + self.web_services:
            try:
                services.wait_ready(timeout)
            except RuntimeError as exc:
                raise ClusterError(f"{exc} (logs in {self.workdir / 'logs'})") from exc

        conf = nginx_conf(
            self.port,
            self.internal_port,
            [s.settings.rasa_port for s in self.replica_services],
            [s.settings.web_port for s in self.web_services],
        )
        (self.workdir / "nginx.conf").write_text(conf, encoding="utf-8")
        self.nginx = subprocess.Popen(
            [nginx, "-p", str(self.workdir), "-c", "nginx.conf", "-e", "logs/nginx-error.log", "-g", "daemon off;"],
            cwd=self.workdir,
            stdout=open(self.workdir / "logs" / "nginx.out", "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_http({"nginx": self.url + NGINX_HEALTH}, timeout=20)

    def _base_settings(self, redis_url: str) -> config.Settings:
        tracker = urlsplit(self.databases["tracker"])
        redis = urlsplit(redis_url)
        return replace(
            config.load(),
            bot_env="production",
            action_endpoint=None,
            database_url=self.databases["knowledge"],
            app_database_url=self.databases["app"],
            redis_url=redis_url,
            tracker_db_host=tracker.hostname,
            tracker_db_port=tracker.port or 5432,
            tracker_db_name=tracker.path.lstrip("/"),
            tracker_db_user=tracker.username or "postgres",
            tracker_db_password=tracker.password or "",
            lock_store_host=redis.hostname,
            lock_store_port=redis.port or 6379,
            lock_store_db=1,
            rasa_host="127.0.0.1",
            web_host="127.0.0.1",
        )

    def _prepare_databases(self, settings: config.Settings) -> None:
        """Build the knowledge base, create the app tables and Rasa's tracker tables (in parallel).

        Done once up front so that replicas starting together do not race to create tables.
        """
        env = {**service_env(settings), **self.extra_env}
        logs = self.workdir / "logs"
        t = settings
        create_tracker = (
            "from rasa.core.tracker_store import SQLTrackerStore as S; "
            f"S(dialect='postgresql', host={t.tracker_db_host!r}, port={t.tracker_db_port}, "
            f"db={t.tracker_db_name!r}, username={t.tracker_db_user!r}, password={t.tracker_db_password!r})"
        )
        jobs = {
            "knowledge build": [sys.executable, "-m", "knowledge", "--database-url", settings.database_url, "build"],
            "app tables": [sys.executable, "-c", "from bot.storage import appdb; appdb.ensure_schema()"],
            "tracker tables": [sys.executable, "-W", "ignore", "-c", create_tracker],
        }
        with contextlib.ExitStack() as files:
            running = {
                name: subprocess.Popen(
                    cmd,
                    cwd=config.PROJECT_ROOT,
                    env=env,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    stdout=files.enter_context(open(logs / f"prepare-{name.replace(' ', '-')}.log", "wb")),
                )
                for name, cmd in jobs.items()
            }
            failed = [name for name, proc in running.items() if proc.wait(timeout=300) != 0]
        if failed:
            raise ClusterError(f"could not prepare the databases ({', '.join(failed)}); see {logs}/prepare-*.log")

    def _start_services(self, services: Services, label: str, only: tuple[str, ...]) -> None:
        services.start(log_dir=self.workdir / "logs" / label, only=only)

    def _wait_http(self, checks: dict[str, str], timeout: float) -> None:
        def dead(name: str) -> str | None:
            if name != "nginx" or self.nginx is None or self.nginx.poll() is None:
                return None
            error_log = self.workdir / "logs" / "nginx-error.log"
            text = error_log.read_text(errors="replace")[-2000:] if error_log.exists() else ""
            return f"nginx exited with code {self.nginx.returncode}:\n{text}"

        wait_until_up(checks, timeout, dead, interval=0.2, error=ClusterError)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop nginx, the web servers, the replicas, then Redis and PostgreSQL (those we started)."""
        if self.nginx is not None and self.nginx.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.nginx.pid, signal.SIGTERM)
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.nginx.pid, signal.SIGKILL)
                self.nginx.wait()
        for services in self.web_services + self.replica_services:
            services.stop(timeout)
        self._stack.close()

    # -- one replica -------------------------------------------------------------------------

    def stop_replica(self, index: int, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Stop Rasa replica ``index`` (0-based) with ``sig``; returns its exit code.

        Its action server keeps running.
        """
        proc = self.replica_services[index].processes["rasa"]
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        return proc.wait(timeout=timeout)

    def start_replica(self, index: int, timeout: float = 180.0) -> None:
        """Start Rasa replica ``index`` again (same port, model and stores) and wait until it answers."""
        services = self.replica_services[index]
        self._start_services(services, f"replica-{index + 1}", ("rasa",))
        services.wait_ready(timeout)

    # -- figures -----------------------------------------------------------------------------

    def processes(self) -> dict[str, int]:
        """Name → pid of every process the cluster runs (PostgreSQL's postmaster when we started it)."""
        found: dict[str, int] = {}
        for i, services in enumerate(self.replica_services, 1):
            for name, proc in services.processes.items():
                if proc.poll() is None:
                    found[f"{name}-{i}"] = proc.pid
        for i, services in enumerate(self.web_services, 1):
            web_proc = services.processes.get("web")
            if web_proc is not None and web_proc.poll() is None:
                found[f"web-{i}"] = web_proc.pid
        if self.nginx is not None and self.nginx.poll() is None:
            found["nginx"] = self.nginx.pid
        if self.postgres_url is None and self.pg_url:
            # the postmaster of the server we started (its backends are its children)
            port = urlsplit(self.pg_url).port
            out = subprocess.run(["pgrep", "-o", "-f", f"postgres -D .* -p {port} "], capture_output=True, text=True)
            if out.stdout.split():
                found["postgres"] = int(out.stdout.split()[0])
        if self.redis_url is None and self.redis_in_use:
            port = urlsplit(self.redis_in_use).port
            out = subprocess.run(["pgrep", "-f", f"redis-server 127.0.0.1:{port}"], capture_output=True, text=True)
            if out.stdout.split():
                found["redis"] = int(out.stdout.split()[0])
        return found

    def rss_kb(self) -> dict[str, int]:
        """Resident set size (``ps -o rss``, KiB) of each process with its children."""
        return {name: _tree_rss_kb(pid) for name, pid in self.processes().items()}

    def describe(self) -> str:
        """The start-up banner: where everything listens."""
        lines = [
            f"  front door (nginx)   {self.url}/  (REST: POST {self.url}/webhooks/rest/webhook)",
            f"  staff console        {self.url}/console",
        ]
        for i, services in enumerate(self.replica_services, 1):
            s = services.settings
            lines.append(
                f"  Rasa replica {i}       http://127.0.0.1:{s.rasa_port}/"
                f"  (actions http://127.0.0.1:{s.action_port}/webhook)"
            )
        for i, url in enumerate(self.web_urls, 1):
            lines.append(f"  web server {i}         {url}/")
        databases = ", ".join(u.rsplit("/", 1)[1] for u in self.databases.values())
        lines += [
            f"  nginx internal       http://127.0.0.1:{self.internal_port}/  (the web servers' Rasa)",
            f"  PostgreSQL           {safe_url(self.pg_url).rsplit('/', 1)[0]}/  ({databases})",
            f"  Redis                {safe_url(self.redis_in_use)}  (lock store: db 1)",
            f"  logs                 {self.workdir / 'logs'}",
        ]
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.ops.cluster``: start the cluster, print where it listens, stop it on Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m bot.ops.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, help=f"nginx's port on 127.0.0.1 (default: CLUSTER_PORT or {DEFAULT_PORT})")
    parser.add_argument("--replicas", type=int, default=2, help="Rasa replicas, each with an action server (2)")
    parser.add_argument("--web-servers", type=int, default=2, help="web servers (2)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="nginx.conf, logs, PostgreSQL's data")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from bot.text import logredact

    logredact.install()
    settings = config.load_or_report()
    if settings is None:
        return 2
    port = args.port or settings.cluster_port
    from bot.ops.training import model_or_report

    model = model_or_report(settings)
    if model is None:
        return 1

    stopping = StopSignals()  # from here on, a Ctrl-C during the start is kept for the wait below
    cluster = Cluster(
        model=model, workdir=args.workdir, port=port, replicas=args.replicas, web_servers=args.web_servers
    )
    print(f"starting the cluster in {args.workdir} (the Rasa replicas start in parallel, about 20 s) …", flush=True)
    try:
        cluster.start()
    except (ClusterError, localdb.PostgresUnavailable, localdb.RedisUnavailable, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        "\n广西公安“放管服”政务问答助手, production configuration (BOT_ENV=production), is running:\n"
        f"{cluster.describe()}\nPress Ctrl-C to stop them all.\n",
        flush=True,
    )
    reported: set[str] = set()

    def check() -> int | None:
        for services in cluster.replica_services + cluster.web_services:
            for name, proc in services.processes.items():
                key = f"{name}:{proc.pid}"
                if proc.poll() is not None and key not in reported:
                    reported.add(key)
                    print(
                        f"{name} on port {services.settings.rasa_port if name == 'rasa' else ''} exited with "
                        f"code {proc.returncode}; nginx sends its requests to the others",
                        file=sys.stderr,
                    )
        if cluster.nginx is not None and cluster.nginx.poll() is not None:
            print(f"nginx exited with code {cluster.nginx.returncode}; stopping", file=sys.stderr)
            return 1
        return None

    try:
        return stopping.wait(check)
    finally:
        print("stopping the cluster …", file=sys.stderr)
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
