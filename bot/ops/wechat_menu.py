"""Command line: ``python -m bot.ops.wechat_menu create [--file MENU.yml] [--dry-run]``.

Creates the Official Account's custom menu (自定义菜单) from a YAML file (default:
``bot/rasa_ext/channels/wechat/menu.yml``, checked by :mod:`bot.rasa_ext.channels.wechat.menu`)
through WeChat's ``POST {WECHAT_API_BASE}/cgi-bin/menu/create``, with the access token the channel
uses for customer-service messages (shared through Redis when ``REDIS_URL`` is set, so the running
bot's token stays valid). ``--dry-run`` checks the file and prints the JSON it would send, without
credentials or network.

Exit codes: 0 created (or printed); 1 WeChat unreachable (try again); 2 refused: the menu file
breaks WeChat's rules, ``WECHAT_APP_ID``/``WECHAT_APP_SECRET`` are missing, or WeChat answered
an errcode (the token or the menu).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from bot import config
from bot.rasa_ext.channels.wechat.api import APIRefused, APIUnreachable, WeChatAPI
from bot.rasa_ext.channels.wechat.menu import MENU_PATH, MenuError, load_menu
from bot.rasa_ext.channels.wechat.store import make_store


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.ops.wechat_menu", description="the WeChat Official Account's custom menu"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create (replace) the account's menu from a YAML file")
    create.add_argument("--file", default=str(MENU_PATH), help=f"the menu (default: {MENU_PATH})")
    create.add_argument("--dry-run", action="store_true", help="check the file and print the JSON; send nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        menu = load_menu(args.file)
    except MenuError as exc:
        print(f"menu not created: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(json.dumps(menu, ensure_ascii=False, indent=2))
        return 0
    settings = config.load_or_report()
    if settings is None:
        return 2
    if not (settings.wechat_app_id and settings.wechat_app_secret):
        print("menu not created: WECHAT_APP_ID and WECHAT_APP_SECRET must be set", file=sys.stderr)
        return 2
    try:
        asyncio.run(_create(settings, menu))
    except APIRefused as exc:
        print(f"menu not created: {exc}", file=sys.stderr)
        return 2
    except APIUnreachable as exc:
        print(f"menu not created: {exc}", file=sys.stderr)
        return 1
    buttons = sum(len(b.get("sub_button", [])) or 1 for b in menu["button"])
    print(f"menu created from {args.file}: {len(menu['button'])} top-level buttons, {buttons} entries")
    return 0


async def _create(settings: config.Settings, menu: dict) -> None:
    if not (settings.wechat_app_id and settings.wechat_app_secret):  # checked by main(); for the types
        raise ValueError("WECHAT_APP_ID and WECHAT_APP_SECRET are needed")
    store = make_store(settings.redis_url)
    try:
        api = WeChatAPI(settings.wechat_api_base, settings.wechat_app_id, settings.wechat_app_secret, store)
        await api.create_menu(menu)
    finally:
        await store.close()


if __name__ == "__main__":
    sys.exit(main())
