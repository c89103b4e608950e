"""File types are judged by their bytes: every accepted type, and look-alikes that are refused."""

from __future__ import annotations

import pytest

from shared.media import EXTENSIONS, identify, sniff, sniff_file
from tests import media_samples as samples

pytestmark = pytest.mark.unit


class TestSniffAcceptedTypes:
    """Each of the seed's twelve types is recognised from a minimal file of that type."""

    def test_every_accepted_type_has_a_sample(self) -> None:
        assert set(samples.ACCEPTED) == set(EXTENSIONS)

    @pytest.mark.parametrize("mime", sorted(samples.ACCEPTED))
    def test_head_and_whole_file_give_the_type(self, mime: str) -> None:
        data = samples.ACCEPTED[mime]
        assert sniff(data[:4096]) == mime
        assert sniff_file(data) == mime

    def test_mp3_without_an_id3_tag_is_recognised_by_its_frame_header(self) -> None:
        assert sniff_file(samples.mp3_without_tag()) == "audio/mpeg"


class TestSniffRefusesLookAlikes:
    """Files that share a container or a magic number with an accepted type are not accepted."""

    @pytest.mark.parametrize(
        ("data", "found"),
        [
            (samples.exe(), "application/x-msdownload"),
            (samples.m4a(), "audio/mp4"),
            (samples.heic(), "image/heic"),
            (samples.aac_adts(), None),
            (b"<!DOCTYPE html><html></html>", "text/html"),
            (b"just some text", None),
            (b"", None),
        ],
    )
    def test_refused_and_named(self, data: bytes, found: str | None) -> None:
        assert sniff(data) is None
        assert sniff_file(data) is None
        assert identify(data) == found

    def test_excel_in_an_ole2_container_is_not_a_word_document(self) -> None:
        assert sniff_file(samples.xls()) is None

    def test_xlsx_is_not_docx(self) -> None:
        assert sniff_file(samples.xlsx()) is None
        assert identify(samples.xlsx()) == "application/zip"

    def test_a_zip_that_only_names_word_in_its_head_is_not_docx(self) -> None:
        fake = b"PK\x03\x04" + b"word/document.xml" + b"\x00" * 40
        assert sniff_file(fake) is None

    def test_png_bytes_win_over_anything_appended(self) -> None:
        assert sniff_file(samples.png(extra=b"%PDF-1.4")) == "image/png"
