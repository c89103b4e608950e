"""shared/search.py: the words a message is found by, and the ``$text`` filter of ``q``."""

from __future__ import annotations

import pytest

from shared import search
from shared.messages import Message, new_outbound, searchable
from shared.models import MessageType

pytestmark = pytest.mark.unit


def test_words_are_lower_case_without_accents_split_on_anything_else() -> None:
    assert search.words("Crème BRÛLÉE, très_bien! a.b-c 4471") == [
        "creme", "brulee", "tres", "bien", "a", "b", "c", "4471"]
    assert search.words("Ünïcode ΣΊΣΥΦΟΣ 東京") == ["unicode", "σισυφοσ", "東京"]
    assert search.words("red red RED") == ["red"]
    assert search.words(None) == search.words("") == search.words(".*+?") == []


def test_search_text_holds_content_name_and_phone_digits() -> None:
    assert search.search_text("Hi there", "Ada Lovelace", "+44 7700-900123") == \
        "hi there ada lovelace 447700900123"
    assert search.search_text(None, None, None) == ""


@pytest.mark.parametrize(("q", "expected"), [
    ("parcel", '"parcel"'),
    ('"$5" -less OR .*', '"5" "less" "or"'),  # quotes, negation, operators: plain words
    ("Crème", '"creme"'),
])
def test_q_becomes_quoted_words_all_required(q: str, expected: str) -> None:
    assert search.text_filter(q) == {"$search": expected}


def test_a_q_without_words_has_no_filter_and_many_words_are_capped() -> None:
    assert search.text_filter("!!! ...") is None
    many = " ".join(f"w{i}" for i in range(40))
    found = search.text_filter(many)
    assert found is not None and str(found["$search"]).count('"') == 2 * search.MAX_WORDS


def test_the_message_store_helper_fills_search_text_once() -> None:
    message = new_outbound(user_id="u", account_id="a", contact_id="c", to="+15551234567",
                           type=MessageType.TEXT, content="Order shipped")
    filled = searchable(message, "Ada")
    assert filled.search_text == "order shipped ada 15551234567"
    assert searchable(filled, "Someone Else").search_text == filled.search_text
    inbound = Message.from_doc({**message.to_doc(), "to": None, "from": "+16505551234"})
    assert searchable(inbound).search_text == "order shipped 16505551234"
