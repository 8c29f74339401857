"""``python -m bot.webapp.console add-user NAME``: create a staff account (bcrypt hash in the app database)."""

from __future__ import annotations

import argparse
import getpass
import sys

from bot import config
from bot.storage import appdb


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.webapp.console add-user NAME [--password-stdin]``: create a staff account."""
    parser = argparse.ArgumentParser(prog="python -m bot.webapp.console")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-user", help="create a console account")
    add.add_argument("username")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    try:
        appdb.add_staff_user(args.username, password, url=config.load().app_database_url)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created console account {args.username}")
    return 0
