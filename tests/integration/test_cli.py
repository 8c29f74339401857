"""``python -m knowledge`` as a maintainer runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot import config
from tests.support.paths import SOURCE


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "knowledge", *args],
        cwd=config.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory) -> dict:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'kb.db'}"
    result = run_cli("--database-url", url, "build")
    assert result.returncode == 0, result.stderr
    assert "50 measures" in result.stdout
    return {"DATABASE_URL": url}


def test_show_json(cli_db):
    result = run_cli("show", "22", "--json", env=cli_db)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"number", "label", "title", "section", "text", "sentences", "facts"} <= set(data)
    assert (data["number"], data["label"], data["title"]) == (22, "（二十二）", "全面放开人才落户限制")
    assert data["section"] == "二、优化审批服务"
    assert {"type": "document", "value": "毕业证"}.items() <= next(
        f for f in data["facts"] if f["value"] == "毕业证"
    ).items()


def test_show_every_measure_as_json(cli_db, sqlite_kb_url):
    from knowledge.repository import KnowledgeBase

    kb = KnowledgeBase(sqlite_kb_url)
    for n in (1, 9, 26, 36, 44, 50):
        data = json.loads(run_cli("show", str(n), "--json", env=cli_db).stdout)
        assert data == kb.measure(n).to_json()


def test_show_text_and_unknown_number(cli_db):
    result = run_cli("show", "26", env=cli_db)
    assert result.returncode == 0 and "15个工作日" in result.stdout
    missing = run_cli("show", "51", env=cli_db)
    assert missing.returncode == 1 and "1-50" in missing.stderr
    assert run_cli("show", "abc", env=cli_db).returncode == 2


def test_search(cli_db):
    result = run_cli("search", "落户", env=cli_db)
    assert result.returncode == 0 and result.stdout.splitlines()[0].split()[0] == "22"
    none = run_cli("search", "天气预报", env=cli_db)
    assert none.returncode == 1 and "no measure" in none.stdout


def test_build_is_idempotent_from_the_cli(cli_db):
    result = run_cli("build", env=cli_db)
    assert result.returncode == 0 and "unchanged" in result.stdout


def test_bad_source_exits_2_and_names_the_line(cli_db, tmp_path):
    broken = tmp_path / "broken.txt"
    lines = SOURCE.read_text(encoding="utf-8").splitlines()
    broken.write_text("\n".join(lines[:60]), encoding="utf-8")
    result = run_cli("build", "--source", str(broken), env=cli_db)
    assert result.returncode == 2
    assert "truncated" in result.stderr and "broken.txt:" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_cli("show", "50", env=cli_db).returncode == 0


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"RASA_PORT": "http"}, "RASA_PORT"),
        ({"ACTION_PORT": "70000"}, "ACTION_PORT"),
    ],
)
def test_bad_configuration_exits_2(env, message):
    result = run_cli("show", "1", env=env)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_unreachable_database_exits_2():
    result = run_cli("show", "1", env={"DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:1/none"})
    assert result.returncode == 2 and "make kb" in result.stderr and "Traceback" not in result.stderr
