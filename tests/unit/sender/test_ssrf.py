"""The media fetch guard: which addresses a mediaUrl may reach, after DNS resolution."""

from __future__ import annotations

import ipaddress

import pytest

from sender.media import Allowlist, MediaRefused, refusal, vet

pytestmark = pytest.mark.unit

NOBODY = Allowlist.parse([])


def fake_dns(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(-2, "Name or service not known")
        return table[host]
    return resolve


class TestAddressRefusal:
    """Loopback, private, link-local, multicast, reserved and metadata are refused."""

    @pytest.mark.parametrize(("address", "reason"), [
        ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
        ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
        ("100.64.0.1", "private"), ("fc00::1", "private"), ("fd12:3456::1", "private"),
        ("169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata"),
        ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "metadata"), ("::127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"), ("64:ff9b::a00:1", "private"),
    ])
    def test_refused(self, address, reason):
        assert reason in (refusal(ipaddress.ip_address(address)) or "")

    @pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::6810:84e5"])
    def test_public_addresses_pass(self, address):
        assert refusal(ipaddress.ip_address(address)) is None


class TestVet:
    """URLs are checked by what their host resolves to, every answer of it."""

    async def test_a_name_resolving_to_a_private_address_is_refused(self):
        dns = fake_dns({"media.example.com": ["10.1.2.3"]})
        with pytest.raises(MediaRefused, match=r"private address \(10\.1\.2\.3\); refused"):
            await vet("https://media.example.com/a.jpg", NOBODY, dns)

    async def test_one_private_answer_among_public_ones_is_refused(self):
        dns = fake_dns({"rebind.example.com": ["93.184.215.14", "127.0.0.1"]})
        with pytest.raises(MediaRefused, match="loopback"):
            await vet("https://rebind.example.com/a.jpg", NOBODY, dns)

    async def test_a_public_name_is_pinned_to_its_vetted_address(self):
        dns = fake_dns({"cdn.example.com": ["93.184.215.14"]})
        assert await vet("https://cdn.example.com/a.jpg", NOBODY, dns) == (
            "cdn.example.com", "93.184.215.14")

    @pytest.mark.parametrize("url", ["https://169.254.169.254/latest/meta-data/",
                                     "https://[::ffff:169.254.169.254]/", "https://[fd00:ec2::254]/"])
    async def test_metadata_literals_are_refused(self, url):
        with pytest.raises(MediaRefused, match="metadata"):
            await vet(url, NOBODY, fake_dns({}))

    async def test_plain_http_to_a_public_host_is_refused(self):
        dns = fake_dns({"cdn.example.com": ["93.184.215.14"]})
        with pytest.raises(MediaRefused, match="https"):
            await vet("http://cdn.example.com/a.jpg", NOBODY, dns)

    @pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/y", "gopher://a", "https://"])
    async def test_other_schemes_are_refused(self, url):
        with pytest.raises(MediaRefused, match="https URL"):
            await vet(url, NOBODY, fake_dns({}))

    async def test_unknown_names_are_refused_clearly(self):
        with pytest.raises(MediaRefused, match="does not resolve"):
            await vet("https://nowhere.invalid/a.jpg", NOBODY, fake_dns({}))

    async def test_the_allowlist_admits_hosts_and_networks(self):
        dns = fake_dns({"localhost": ["127.0.0.1"]})
        by_cidr = Allowlist.parse(["127.0.0.0/8"])
        by_ip = Allowlist.parse(["127.0.0.1"])
        by_host = Allowlist.parse(["localhost"])
        assert await vet("http://127.0.0.1:8000/a", by_cidr, dns) == ("127.0.0.1", "127.0.0.1")
        assert await vet("http://127.0.0.1:8000/a", by_ip, dns) == ("127.0.0.1", "127.0.0.1")
        assert await vet("http://localhost:8000/a", by_host, dns) == ("localhost", "127.0.0.1")
        with pytest.raises(MediaRefused, match="loopback"):
            await vet("http://127.0.0.1:8000/a", by_host, dns)
