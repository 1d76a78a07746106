"""Fetch a dataset over http(s) without letting a URL reach the server's own network."""

from __future__ import annotations

import ipaddress
import socket
import time
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3

from dsba.config import Settings
from dsba.errors import Forbidden, InvalidInput, TooLarge

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
REDIRECTS = (301, 302, 303, 307, 308)


def _host_allowed(host: str, settings: Settings) -> bool:
    return host.lower() in {h.lower() for h in settings.url_allow_hosts}


# Azure's host endpoint (WireServer): a public address that every Azure VM and container
# reaches on the host itself, so is_global cannot tell.
AZURE_HOST_ENDPOINT = ipaddress.IPv4Address("168.63.129.16")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped or 6to4 address reaches."""
    # Teredo (2001::/32), NAT64 and IPv4-compatible addresses (in ::/8) are not global
    # themselves: they are refused whole.
    return address.ipv4_mapped or address.sixtofour


def _forbidden_address(address: Address) -> bool:
    """True unless address is a public internet address (and not Azure's host endpoint)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and _forbidden_address(embedded):
            return True
    # is_global alone misses some (multicast, ::/8 in Python 3.11): the other tests stay.
    return (
        not address.is_global
        or address == AZURE_HOST_ENDPOINT
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _resolve(host: str, port: int, allowed: bool) -> str:
    """Resolve host once and check every address; the caller connects to the one returned."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"host {host!r} cannot be resolved", {"url": host}) from exc
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not allowed and _forbidden_address(address):
            raise Forbidden(
                f"URL host {host!r} resolves to {address}, a loopback, private, link-local, "
                "shared, reserved or cloud host address, not a public one; such URLs are "
                "refused (see DSBA_URL_ALLOW_HOSTS)",
                {"url": host},
            )
        addresses.append(str(address))
    if not addresses:
        raise InvalidInput(f"host {host!r} cannot be resolved", {"url": host})
    return addresses[0]


def check_url(url: str, settings: Settings) -> str:
    """Refuse URLs that are not http(s) or that point into private networks; return the IP."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Forbidden(
            f"only http and https URLs can be read, not {parts.scheme or 'no scheme'!r}",
            {"url": url[:200]},
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidInput("URL has an invalid port", {"url": url[:200]}) from exc
    if not parts.hostname:
        raise InvalidInput("URL has no host", {"url": url[:200]})
    if parts.username or parts.password:
        raise Forbidden("URLs with credentials in them are refused", {"url": parts.hostname})
    return _resolve(parts.hostname, port, _host_allowed(parts.hostname, settings))


def _open(url: str, address: str, settings: Settings) -> urllib3.BaseHTTPResponse:
    """GET url from the checked address (no second lookup, so DNS rebinding cannot redirect it)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or ""
    timeout = urllib3.Timeout(connect=settings.url_timeout, read=settings.url_timeout)
    if parts.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            address,
            parts.port or 443,
            timeout=timeout,
            retries=False,
            # TLS still checks the certificate against the name, not the address.
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, parts.port or 80, timeout=timeout, retries=False)
    headers = {"Host": parts.netloc.rpartition("@")[2], "User-Agent": "dsba-platform"}
    return pool.urlopen(
        "GET", path, headers=headers, redirect=False, preload_content=False, retries=False
    )


def fetch_url(url: str, settings: Settings) -> tuple[bytes, str]:
    """Download url (following checked redirects) up to the byte cap; return bytes and filename."""
    current = url
    deadline = time.monotonic() + settings.url_timeout
    for _ in range(MAX_REDIRECTS + 1):
        address = check_url(current, settings)
        try:
            response = _open(current, address, settings)
        except urllib3.exceptions.HTTPError as exc:
            raise InvalidInput(
                f"URL cannot be fetched: {type(exc).__name__}", {"url": current[:200]}
            ) from exc
        try:
            if response.status in REDIRECTS:
                current = urljoin(current, response.headers.get("Location", ""))
                continue
            if response.status >= 400:
                raise InvalidInput(f"URL answered HTTP {response.status}", {"url": current[:200]})
            body = _read_body(response, settings, deadline)
            return body, PurePosixPath(urlsplit(current).path).name
        finally:
            response.release_conn()
    raise InvalidInput(f"more than {MAX_REDIRECTS} redirects", {"url": url[:200]})


def _read_body(response: urllib3.BaseHTTPResponse, settings: Settings, deadline: float) -> bytes:
    limit = settings.url_max_bytes
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"URL content is larger than the limit of {limit:,} bytes")
    body = bytearray()
    try:
        for chunk in response.stream(_CHUNK):
            body.extend(chunk)
            if len(body) > limit:
                raise TooLarge(f"URL content is larger than the limit of {limit:,} bytes")
            if time.monotonic() > deadline:
                raise InvalidInput(f"download took longer than {settings.url_timeout:g} s")
    except urllib3.exceptions.HTTPError as exc:
        raise InvalidInput(f"download failed: {type(exc).__name__}") from exc
    return bytes(body)
