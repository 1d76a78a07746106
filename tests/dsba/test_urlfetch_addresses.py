"""The URL check lets through public internet addresses only: no shared (CGNAT) space, no
Azure host endpoint, no private address wrapped in an IPv6 one; allowed hosts still pass."""

from __future__ import annotations

import pytest

from dsba.config import Settings
from dsba.data.urlfetch import check_url
from dsba.errors import Forbidden

REFUSED = {
    # From the issue: shared address space (Container Apps' own infrastructure sits there)...
    "shared space": "http://100.100.0.5/x.csv",
    "shared space, first": "http://100.64.0.1/x.csv",
    "shared space, last": "http://100.127.255.254/x.csv",
    # ...and Azure's host endpoint (WireServer), a public address reached on the host.
    "azure host endpoint": "http://168.63.129.16/machine?comp=goalstate",
    "azure host endpoint, port": "http://168.63.129.16:32526/vmSettings",
    "cloud metadata": "http://169.254.169.254/metadata/instance",
    "loopback": "http://127.0.0.1/x.csv",
    "private": "http://10.0.0.4/x.csv",
    "benchmarking": "http://198.18.0.1/x.csv",
    "documentation": "http://192.0.2.10/x.csv",
    "multicast": "http://239.1.1.1/x.csv",
    "broadcast": "http://255.255.255.255/x.csv",
    "this network": "http://0.1.2.3/x.csv",
    "ipv6 loopback": "http://[::1]/x.csv",
    "ipv6 unique local": "http://[fd00::1]/x.csv",
    "ipv6 link-local": "http://[fe80::1]/x.csv",
    "ipv6 multicast": "http://[ff0e::1]/x.csv",
    "mapped shared space": "http://[::ffff:100.64.0.1]/x.csv",
    "mapped azure host endpoint": "http://[::ffff:168.63.129.16]/x.csv",
    "6to4 of metadata": "http://[2002:a9fe:a9fe::1]/x.csv",
    "6to4 of shared space": "http://[2002:6440:1::1]/x.csv",
    "6to4 of azure host endpoint": "http://[2002:a83f:8110::1]/x.csv",
    "teredo": "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x.csv",
    "nat64 of metadata": "http://[64:ff9b::a9fe:a9fe]/x.csv",
    "ipv4-compatible loopback": "http://[::127.0.0.1]/x.csv",
}

PUBLIC = {
    "http://8.8.8.8/x.csv": "8.8.8.8",
    "https://1.1.1.1:8443/x.csv": "1.1.1.1",
    "http://100.128.0.1/x.csv": "100.128.0.1",  # just past the shared space
    "http://168.63.129.17/x.csv": "168.63.129.17",  # Azure's public range, not its host
    "http://[2606:4700::1111]/x.csv": "2606:4700::1111",
    "http://[2002:808:808::1]/x.csv": "2002:808:808::1",  # 6to4 of a public address
}


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_non_public_addresses_are_refused(url):
    with pytest.raises(Forbidden, match="not a public one"):
        check_url(url, Settings())


@pytest.mark.parametrize(("url", "address"), PUBLIC.items())
def test_public_addresses_pass_and_are_the_one_connected_to(url, address):
    assert check_url(url, Settings()) == address


@pytest.mark.parametrize(
    ("host", "url", "address"),
    [
        ("100.100.0.5", "http://100.100.0.5/x.csv", "100.100.0.5"),
        ("localhost", "http://localhost:8000/x.csv", "127.0.0.1"),
    ],
)
def test_hosts_allowed_by_name_still_pass(host, url, address):
    allowed = Settings(url_allow_hosts=(host,))
    assert check_url(url, allowed) == address
    with pytest.raises(Forbidden):
        check_url(url, Settings(url_allow_hosts=("other.example",)))
