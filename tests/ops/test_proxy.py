"""Whose address a request is (cosmosquest.proxy): X-Forwarded-For counts only when the peer is
one of TRUSTED_PROXIES, and then only the entry our proxy added (issue 18: with the header
trusted from anyone, a client talking to gunicorn directly got 29 of 30 launches live)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.test import RequestFactory

from cosmosquest.proxy import client_ip, parse_networks
from tests.ops.test_deploy import ROOT, manage, production_env


def request(remote: str, forwarded: str | None = None, **headers):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra, **headers)


@pytest.mark.parametrize(
    "trusted, remote, forwarded, expected",
    [
        # A peer that is not our proxy: its own address, whatever it claims.
        (["127.0.0.1"], "192.0.2.66", "10.0.0.1", "192.0.2.66"),
        (["127.0.0.1"], "192.0.2.66", "127.0.0.1", "192.0.2.66"),
        ([], "127.0.0.1", "10.0.0.1", "127.0.0.1"),
        # Our proxy: the entry it added (the right-most), never what the client put before it.
        (["127.0.0.1"], "127.0.0.1", "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (["127.0.0.1"], "127.0.0.1", "203.0.113.7", "203.0.113.7"),
        (["127.0.0.1", "::1"], "::1", "2001:db8::7", "2001:db8::7"),
        # A chain of our proxies (a load balancer in front of nginx), given as a network.
        (["10.1.0.0/16", "127.0.0.1"], "127.0.0.1", "6.6.6.6, 203.0.113.7, 10.1.2.3", "203.0.113.7"),
        # IPv4 seen through an IPv6 socket is the same client.
        (["127.0.0.1"], "::ffff:127.0.0.1", "::ffff:203.0.113.7", "203.0.113.7"),
        # Our proxy sent no header: the proxy itself is all we know.
        (["127.0.0.1"], "127.0.0.1", None, "127.0.0.1"),
        # Our proxy forwarded garbage: unknown, never an entry to its left.
        (["127.0.0.1"], "127.0.0.1", "203.0.113.7, not-an-address", None),
        (["*"], "192.0.2.66", "203.0.113.7", "203.0.113.7"),
    ],
)
def test_the_client_is_the_peer_unless_the_peer_is_our_proxy(settings, trusted, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = trusted
    assert client_ip(request(remote, forwarded)) == expected


def test_the_shipped_default_trusts_only_this_hosts_proxy(settings):
    assert settings.TRUSTED_PROXIES == ["127.0.0.1", "::1"]
    assert client_ip(request("198.51.100.4", "203.0.113.7")) == "198.51.100.4"
    assert client_ip(request("127.0.0.1", "203.0.113.7")) == "203.0.113.7"


@pytest.mark.django_db
def test_forwarded_headers_from_a_client_are_dropped_before_django_reads_them(client, settings):
    """A direct client cannot claim HTTPS either (SECURE_PROXY_SSL_HEADER reads X-Forwarded-Proto)."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    direct = client.get("/", REMOTE_ADDR="192.0.2.66", HTTP_X_FORWARDED_PROTO="https")
    assert direct.status_code == 301 and direct["Location"].startswith("https://")
    proxied = client.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 200


def test_a_bad_trusted_proxies_value_stops_start_up_naming_it(tmp_path):
    result = manage(production_env(tmp_path, TRUSTED_PROXIES="127.0.0.1,nginx.internal"), "check")
    assert result.returncode != 0 and "TRUSTED_PROXIES='127.0.0.1,nginx.internal' is not" in result.stderr
    with pytest.raises(ValueError):
        parse_networks(["10.0.0.0/33"])


@pytest.mark.slow
def test_gunicorn_trusts_the_same_proxies(tmp_path):
    code = ("import runpy; config = runpy.run_path('deploy/gunicorn.conf.py'); "
            "print(config['forwarded_allow_ips'])")
    env = {**production_env(tmp_path, TRUSTED_PROXIES="10.1.0.0/16,127.0.0.1"), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "10.1.0.0/16,127.0.0.1", result.stderr
