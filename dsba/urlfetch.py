"""Fetch a dataset over http(s) without letting a URL reach the server's own network."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

import requests

from dsba.config import Settings
from dsba.errors import Forbidden, InvalidInput, TooLarge

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024


def _host_allowed(host: str, settings: Settings) -> bool:
    return host.lower() in {h.lower() for h in settings.url_allow_hosts}


def _check_address(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"host {host!r} cannot be resolved", {"url": host}) from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        ):
            raise Forbidden(
                f"URL host {host!r} resolves to {address}, a loopback, private, link-local or "
                "reserved address; such URLs are refused (see DSBA_URL_ALLOW_HOSTS)",
                {"url": host},
            )


def check_url(url: str, settings: Settings) -> None:
    """Refuse URLs that are not http(s) or that point into private networks."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Forbidden(
            f"only http and https URLs can be read, not {parts.scheme or 'no scheme'!r}",
            {"url": url[:200]},
        )
    if not parts.hostname:
        raise InvalidInput("URL has no host", {"url": url[:200]})
    if parts.username or parts.password:
        raise Forbidden("URLs with credentials in them are refused", {"url": parts.hostname})
    if _host_allowed(parts.hostname, settings):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    _check_address(parts.hostname, port)


def fetch_url(url: str, settings: Settings) -> tuple[bytes, str]:
    """Download url (following checked redirects) up to the byte cap; return bytes and filename."""
    current = url
    with requests.Session() as session:
        session.trust_env = False
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current, settings)
            try:
                response = session.get(
                    current, stream=True, timeout=settings.url_timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise InvalidInput(
                    f"URL cannot be fetched: {type(exc).__name__}", {"url": current[:200]}
                ) from exc
            with response:
                if response.is_redirect:
                    current = urljoin(current, response.headers.get("Location", ""))
                    continue
                if response.status_code >= 400:
                    raise InvalidInput(
                        f"URL answered HTTP {response.status_code}", {"url": current[:200]}
                    )
                return _read_body(response, settings), PurePosixPath(urlsplit(current).path).name
    raise InvalidInput(f"more than {MAX_REDIRECTS} redirects", {"url": url[:200]})


def _read_body(response: requests.Response, settings: Settings) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > settings.url_max_bytes:
        raise TooLarge(f"URL content is larger than the limit of {settings.url_max_bytes:,} bytes")
    body = bytearray()
    try:
        for chunk in response.iter_content(_CHUNK):
            body.extend(chunk)
            if len(body) > settings.url_max_bytes:
                raise TooLarge(
                    f"URL content is larger than the limit of {settings.url_max_bytes:,} bytes"
                )
    except requests.RequestException as exc:
        raise InvalidInput(f"download failed: {type(exc).__name__}") from exc
    return bytes(body)
