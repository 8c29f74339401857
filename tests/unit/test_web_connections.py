"""TRUSTED_PROXIES as networks, the client address behind them, and the library hooks' version pins."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from bot import config
from bot.security import ratelimit


def _settings(*proxies: str) -> config.Settings:
    return dataclasses.replace(config.load(), trusted_proxies=proxies)


def test_trusted_proxies_read_networks(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", " 10.244.0.0/16, 127.0.0.1 ,::1, fd00::/8")
    assert config.load().trusted_proxies == ("10.244.0.0/16", "127.0.0.1/32", "::1/128", "fd00::/8")


@pytest.mark.parametrize("entry", ["10.244.0.0/33", "localhost", "10.244.1.7/16", "10.0.0.0/8;", "1.2.3"])
def test_a_malformed_proxy_entry_stops_start_up_naming_it(monkeypatch, entry):
    monkeypatch.setenv("TRUSTED_PROXIES", f"127.0.0.1, {entry}")
    with pytest.raises(config.ConfigError, match="TRUSTED_PROXIES") as info:
        config.load()
    assert repr(entry) in str(info.value)


@pytest.mark.parametrize(
    "peer, forwarded, expected",
    [
        # the ingress pod (10.244.1.5) in front, the resident at 198.51.100.7
        ("10.244.1.5", "198.51.100.7", "198.51.100.7"),
        # the client wrote a spoofed entry to the left: the right-most untrusted one counts
        ("10.244.1.5", "1.1.1.1, 198.51.100.7", "198.51.100.7"),
        # two trusted hops (a node's kube-proxy, the ingress)
        ("10.244.1.5", "1.1.1.1, 198.51.100.7, 10.244.2.9", "198.51.100.7"),
        # an untrusted peer's header is not read
        ("203.0.113.5", "198.51.100.7", "203.0.113.5"),
        # a trusted peer with nothing forwarded: our own tool
        ("10.244.1.5", None, None),
        # garbage written by a client inside the trusted network: that hop is the client
        ("10.244.1.5", "junk, 10.244.7.7", "10.244.7.7"),
        ("::ffff:10.244.1.5", "198.51.100.7", "198.51.100.7"),
    ],
)
def test_client_ip_behind_cidr_proxies(peer, forwarded, expected):
    settings = _settings("10.244.0.0/16", "127.0.0.1/32")
    assert ratelimit.client_ip(peer, forwarded, settings) == expected


def test_exact_strings_would_have_missed_the_network():
    """The attack's finding: '10.244.0.0/16' compared as a string trusted no pod at all."""
    settings = _settings("10.244.0.0/16")
    assert ratelimit.is_trusted("10.244.200.1", settings)
    assert not ratelimit.is_trusted("10.245.0.1", settings)


def test_aiohttp_hooks_match_the_installed_source():
    """bot.webapp.connections relies on these names of aiohttp 3.9.5; a new version must be re-read."""
    from aiohttp import web_protocol, web_runner, web_server

    from bot.webapp import connections

    assert connections.version_matches()
    source = inspect.getsource(web_protocol.RequestHandler)
    for name in (
        "def data_received",
        "def connection_made",
        "def connection_lost",
        "self._messages.append",
        "self._request_count += 1",
    ):
        assert name in source, name
    assert "self._kwargs = kwargs" in inspect.getsource(web_server.Server.__init__)
    assert "auto_decompress" in inspect.signature(web_protocol.RequestHandler.__init__).parameters
    assert "_make_server" in inspect.getsource(web_runner.AppRunner)


def test_sanic_hook_matches_the_installed_source():
    """bot.rasa_ext.http_guard relies on Sanic 21.12 dispatching http.lifecycle.request before the body framing."""
    import sanic
    import sanic.http

    # Read from the file: once any Sanic app in this process has started, Sanic's TouchUp has
    # replaced Http.http1_request_header by a function compiled from a rewritten tree (its
    # source is no longer the file's).
    module = Path(sanic.http.__file__).read_text(encoding="utf-8")
    start = module.index("    async def http1_request_header(self)")
    source = module[start : module.index("\n    async def ", start + 1)]
    assert sanic.__version__.startswith("21.12")
    assert source.index('"http.lifecycle.request"') < source.index('headers.getone("transfer-encoding", None)')
    assert "self.keep_alive = False" in inspect.getsource(sanic.http.Http.error_response)


@pytest.mark.parametrize(
    "headers, problem",
    [
        ([("content-length", "3"), ("transfer-encoding", "chunked")], 400),
        ([("transfer-encoding", "chunked, identity")], 400),
        ([("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")], 400),
        ([("content-encoding", "gzip"), ("content-length", "3")], 415),
        ([("content-encoding", "identity"), ("content-length", "3")], None),
        ([("transfer-encoding", "chunked")], None),
    ],
)
def test_framing_problems(headers, problem):
    from sanic.compat import Header

    from bot.rasa_ext.http_guard import framing_problem

    found = framing_problem(Header(headers))
    assert (found[0] if found else None) == problem
