"""``python -m bot.webapp.console``: console accounts from the command line (bcrypt hashes in the app database).

The first administrator of an install is made here, and an operator locked out of the console
(no active administrator left to do it there) can still change roles and disable or enable
accounts::

    add-user NAME [--password-stdin] [--role admin|staff]
    set-role NAME admin|staff
    disable NAME
    enable NAME

Without ``--role``, ``add-user`` makes the account an administrator (管理员) when there is no
active one, so the first account of an install is one, and a member of staff (工作人员)
otherwise. Every change is written to the audit log with the actor :data:`CLI_ACTOR`.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from bot import config
from bot.storage import appdb, audit

# The audit log's actor for changes made here; '@' is not allowed in usernames, so no account
# can be mistaken for it.
CLI_ACTOR = "@cli"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.webapp.console")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-user", help="create a console account")
    add.add_argument("username")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument(
        "--role",
        choices=appdb.ROLES,
        help="admin or staff (default: admin when there is no active administrator, else staff)",
    )
    role = sub.add_parser("set-role", help="give an account another role")
    role.add_argument("username")
    role.add_argument("role", choices=appdb.ROLES)
    for name, what in (("disable", "disable an account and end its sessions"), ("enable", "enable an account again")):
        sub.add_parser(name, help=what).add_argument("username")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one account command; 0 on success, 2 (with the reason on stderr) when it was refused."""
    args = _parser().parse_args(argv)
    url = config.load().app_database_url
    try:
        if args.command == "add-user":
            password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
            appdb.add_staff_user(args.username, password, url=url, role=args.role)
            account = appdb.get_staff_user(args.username, url=url)
            role = account.role if account else args.role
            audit.record(CLI_ACTOR, "account_created", target=args.username, detail=str(role), url=url)
            print(f"created console account {args.username} ({role})")
        elif args.command == "set-role":
            _, previous = appdb.set_role(args.username, args.role, url=url)
            if previous != args.role:
                detail = f"{previous} -> {args.role}"
                audit.record(CLI_ACTOR, "role_changed", target=args.username, detail=detail, url=url)
            print(f"{args.username}: role {args.role}")
        else:
            _, changed = appdb.set_disabled(args.username, args.command == "disable", url=url)
            if changed:
                audit.record(CLI_ACTOR, f"account_{args.command}d", target=args.username, url=url)
            print(f"{args.username}: {args.command}d" + ("" if changed else " already"))
    except ValueError as exc:  # appdb.AccountError: its message says what was refused
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
