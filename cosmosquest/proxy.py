"""Who is calling: the peer's own address, or, when the peer is one of our proxies, the address
that proxy says it saw.

X-Forwarded-For is a header like any other: a client that reaches gunicorn directly can send
anything in it. So it is read only when the peer (REMOTE_ADDR) is in TRUSTED_PROXIES (addresses
or networks, as gunicorn's `forwarded_allow_ips`), and then from the right: each trusted proxy
appends the address it saw, so the right-most entry that is not itself a trusted proxy is the
client. Entries to its left are whatever the client sent and are never used.

One rule, one place: login throttling (django-axes), the sign-up and login limits and the game's
live-mission limits all ask `client_ip`. `UntrustedForwardedHeadersMiddleware` applies the same
rule to X-Forwarded-Proto, so `BEHIND_TLS_PROXY` cannot be claimed by a direct client either.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Headers only a trusted proxy may set; Django reads X-Forwarded-Proto through SECURE_PROXY_SSL_HEADER.
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_FORWARDED")


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """`127.0.0.1`, `10.0.0.0/8`, `::1`, `*` (every peer): ValueError names a bad entry."""
    networks: list[Network] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        if entry == "*":
            networks += [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(entry) from None
    return tuple(networks)


@lru_cache(maxsize=8)
def _trusted(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(entries)


def trusted_networks() -> tuple[Network, ...]:
    return _trusted(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = (text or "").strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:192.0.2.1 is that IPv4 client
    return address


def is_trusted_proxy(address: str | None) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in network for network in trusted_networks())


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address (also django-axes' AXES_CLIENT_IP_CALLABLE).

    The peer's own address unless the peer is a trusted proxy; then the right-most
    X-Forwarded-For entry that is not a trusted proxy. An entry that is not an address (a proxy
    that forwarded garbage) ends the walk: the client is unknown, never an entry to its left.
    """
    remote = request.META.get("REMOTE_ADDR")
    if not is_trusted_proxy(remote):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for entry in reversed(forwarded):
        parsed = _address(entry)
        if parsed is None:
            return None
        if not any(parsed in network for network in trusted_networks()):
            return str(parsed)
    # Every hop was one of ours (or there was no header): the left-most hop, else the peer.
    return str(_address(forwarded[0])) if forwarded else remote


class UntrustedForwardedHeadersMiddleware:
    """Drop X-Forwarded-* from peers that are not trusted proxies, before anything reads them
    (first in MIDDLEWARE): a direct client cannot claim HTTPS or another host."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_trusted_proxy(request.META.get("REMOTE_ADDR")):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)
