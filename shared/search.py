"""Full-text search of messages: the stored ``searchText`` and the ``$text`` query over it.

A message's ``searchText`` is the normalised words of its content, its contact's name and the
contact's phone digits, written by the message store when the message is stored (every writer
goes through it) and rewritten for a contact's messages when the contact is renamed. One text
index covers it (``shared.db.INDEXES``, ``default_language: "none"``: no stemming, no stop
words). A search is a ``$text`` query of quoted words, so a multi-word ``q`` means every word
(AND) on MongoDB and on the embedded server alike (which answers ``$text`` from an SQLite FTS5
table: a rare word costs the same at any collection size). See docs/DEVIATIONS.md.

Normalising here (lower case, accents stripped, split on anything that is not a letter or a
digit) makes both servers' tokenisers see plain space-separated words, so they agree; and since
``q`` is reduced to such words too, nothing a client types reaches either server as syntax.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

FIELD = "searchText"
MAX_QUERY = 200  # characters of ``q``
MAX_WORDS = 16  # words of ``q`` (each one more AND)
_WORD = re.compile(r"[^\W_]+")


def words(text: str | None) -> list[str]:
    """The normalised words of ``text``, in order, each once."""
    if not text:
        return []
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return list(dict.fromkeys(_WORD.findall(plain)))


def digits(phone: str | None) -> str:
    return "".join(ch for ch in phone or "" if ch.isdigit())


def search_text(content: str | None, name: str | None, phone: str | None) -> str:
    """The stored ``searchText`` of a message."""
    parts: Iterable[str] = [*words(content), *words(name), digits(phone)]
    return " ".join(dict.fromkeys(part for part in parts if part))


def text_filter(query: str) -> dict[str, object] | None:
    """The ``$text`` filter of a search ``q`` (every word must occur), None for a ``q``
    without words (then nothing matches)."""
    found = words(query)[:MAX_WORDS]
    if not found:
        return None
    return {"$search": " ".join(f'"{word}"' for word in found)}
