"""The Cloud API client sends its Bearer token only to the Cloud API's origin or Meta's media
host, whatever URL a media resolve answer names (ingest downloads inbound media through it)."""

from __future__ import annotations

import pytest

from shared.cloudapi import CloudApi, CloudApiError, ErrorClass

pytestmark = pytest.mark.unit


class TestDownloadGuard:
    """Only the API's own scheme, host and port, or https on lookaside.fbsbx.com (and other
    fbsbx.com hosts) pass; anything else is refused before a connection, as a final error."""

    @pytest.mark.parametrize("url", [
        "http://127.0.0.1:8090/_sim/media/123",
        "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
        "https://scontent.xx.fbsbx.com/v/t1/abc",
    ])
    def test_allows_the_api_origin_and_meta_media_hosts(self, url: str) -> None:
        assert CloudApi("http://127.0.0.1:8090", "v21.0").download_allowed(url)

    @pytest.mark.parametrize("url", [
        "http://127.0.0.1:8091/_sim/media/123",          # another port on the same host
        "https://127.0.0.1:8090/_sim/media/123",         # another scheme
        "http://169.254.169.254/latest/meta-data/",      # cloud metadata
        "http://lookaside.fbsbx.com/x",                  # Meta's host without TLS
        "https://lookaside.fbsbx.com.evil.example/x",    # a look-alike
        "https://evilfbsbx.com/x",
        "https://lookaside.fbsbx.com:8443/x",
        "file:///etc/passwd",
        "not a url",
    ])
    def test_refuses_everything_else(self, url: str) -> None:
        assert not CloudApi("http://127.0.0.1:8090", "v21.0").download_allowed(url)

    async def test_download_refuses_before_connecting(self) -> None:
        client = CloudApi("http://127.0.0.1:8090", "v21.0", timeout=30)
        await client.start()
        try:
            with pytest.raises(CloudApiError) as caught:
                await client.download("http://10.255.255.1/x", "token", max_bytes=10)
        finally:
            await client.close()
        assert "refused" in str(caught.value)
        assert caught.value.kind is ErrorClass.FINAL
