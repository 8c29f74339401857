"""Memory and CPU of each service of the cluster under a little load (sizes deploy/'s requests).

Starts ``bot.ops.cluster.Cluster`` (what ``make cluster`` runs) in a temporary folder on free ports,
sends ``--messages`` REST messages through nginx (6 conversations at once) and as many through
the web page's ``/api/message``, logs a staff member into the console through nginx and asks a
few questions there (this loads jieba into the web servers), then prints per process: resident
set size now (``ps -o rss``), its peak (``VmHWM``) and the CPU time it spent per message.

    .venv/bin/python bench/bench_cluster_rss.py [--messages 120]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "居住证怎么办理",
    "那办好了能干什么",
    "毕业生落户需要什么",
    "身份证快递要几天",
    "港澳商务签注能办几次",
    "外地户口能在南宁办护照吗",
    "刻章要交什么材料",
    "驾照到期会有短信提醒吗",
    "公司被敲诈勒索怎么报案",
    "谢谢",
]


def tree(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def figures(pid: int) -> tuple[int, int, float]:
    """(rss KiB, peak KiB, CPU seconds) of a process and its children."""
    rss = hwm = 0
    cpu = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for p in tree(pid):
        out = subprocess.run(["ps", "-o", "rss=", "-p", str(p)], capture_output=True, text=True).stdout.split()
        rss += int(out[0]) if out else 0
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(stat[11]) + int(stat[12])) / ticks  # utime + stime
            status = Path(f"/proc/{p}/status").read_text()
            hwm += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
        except (OSError, StopIteration):
            pass
    return rss, hwm, cpu


def console_questions(url: str, app_url: str, n: int) -> int:
    """Log in through nginx and ask ``n`` questions in the console; returns how many were answered."""
    from bot.storage import appdb

    name, password = f"bench{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    appdb.add_staff_user(name, password, url=app_url)
    s = requests.Session()
    s.get(f"{url}/console/login", timeout=10)
    csrf = s.cookies.get("gxga_csrf", "")
    s.post(f"{url}/console/login", data={"username": name, "password": password, "csrf": csrf}, timeout=30)
    answered = 0
    for i in range(n):
        r = s.post(
            f"{url}/console/api/ask",
            json={"text": QUESTIONS[i % len(QUESTIONS)]},
            headers={"X-CSRF-Token": csrf},
            timeout=60,
        )
        answered += r.status_code == 200
    return answered


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=120)
    args = parser.parse_args()
    from bot import config
    from bot.ops import localdb
    from bot.ops.cluster import Cluster
    from bot.ops.training import ensure_model

    model = ensure_model(config.load())
    with tempfile.TemporaryDirectory(prefix="gxga-rssbench-") as tmp:
        Path(tmp).chmod(0o755)  # PostgreSQL's folder inside must be reachable by the postgres user
        with Cluster(model=model, workdir=Path(tmp), port=localdb.free_port(), db_prefix="rssbench") as cluster:
            pids = cluster.processes()
            idle = {name: figures(pid) for name, pid in pids.items()}

            def conversation(n: int) -> int:
                sender, ok = f"rss-{n}-{uuid.uuid4().hex[:6]}", 0
                for i in range(args.messages // 6):
                    r = requests.post(
                        f"{cluster.url}/webhooks/rest/webhook",
                        json={"sender": sender, "message": QUESTIONS[i % len(QUESTIONS)]},
                        timeout=60,
                    )
                    w = requests.post(
                        f"{cluster.url}/api/message",
                        json={"sender": sender, "message": QUESTIONS[(i + 3) % len(QUESTIONS)]},
                        timeout=60,
                    )
                    ok += (r.status_code == 200) + (w.status_code == 200)
                return ok

            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=6) as pool:
                ok = sum(pool.map(conversation, range(6)))
            elapsed = time.monotonic() - started
            console_ok = console_questions(cluster.url, cluster.databases["app"], 10)
            loaded = {name: figures(pid) for name, pid in pids.items()}
    messages = 2 * 6 * (args.messages // 6)
    print(
        f"{ok}/{messages} messages answered 200 in {elapsed:.1f} s ({messages / elapsed:.1f}/s, 6 at a time, "
        f"half REST through nginx, half through the web page); console: {console_ok}/10 questions answered\n"
    )
    print(
        "| process | RSS idle MiB | RSS after load MiB | peak (VmHWM) MiB "
        "| CPU s during the load | CPU ms per message |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in pids:
        rss0, _, cpu0 = idle[name]
        rss1, hwm, cpu1 = loaded[name]
        print(
            f"| {name} | {rss0 / 1024:.0f} | {rss1 / 1024:.0f} | {hwm / 1024:.0f} | {cpu1 - cpu0:.2f} "
            f"| {1000 * (cpu1 - cpu0) / messages:.1f} |"
        )


if __name__ == "__main__":
    main()
