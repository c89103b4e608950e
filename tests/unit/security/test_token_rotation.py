"""``RELAY_SECRET_KEY`` rotation: several keys, newest first; the newest encrypts, any decrypts."""

from __future__ import annotations

import pytest

from shared.secrets import TokenCipher

pytestmark = pytest.mark.unit


def test_a_single_key_reads_what_it_wrote() -> None:
    cipher = TokenCipher("only")
    assert cipher.decrypt(cipher.encrypt("EAAG-1")) == "EAAG-1"


def test_the_newest_key_encrypts_and_any_key_decrypts() -> None:
    old = TokenCipher("old-key")
    both = TokenCipher("new-key, old-key")
    stored_old = old.encrypt("EAAG-old")
    stored_new = both.encrypt("EAAG-new")
    assert both.decrypt(stored_old) == "EAAG-old"
    assert TokenCipher("new-key").decrypt(stored_new) == "EAAG-new"
    with pytest.raises(ValueError, match="RELAY_SECRET_KEY"):
        old.decrypt(stored_new)


def test_rotate_moves_a_token_to_the_newest_key() -> None:
    stored = TokenCipher("old-key").encrypt("EAAG-1")
    both = TokenCipher("new-key,old-key")
    assert not both.is_current(stored)
    rotated = both.rotate(stored)
    assert both.is_current(rotated)
    assert TokenCipher("new-key").decrypt(rotated) == "EAAG-1"


def test_a_token_no_key_opens_is_an_error_not_garbage() -> None:
    stored = TokenCipher("lost-key").encrypt("EAAG-1")
    cipher = TokenCipher("new-key,old-key")
    for attempt in (cipher.decrypt, cipher.rotate):
        with pytest.raises(ValueError, match="any key of RELAY_SECRET_KEY"):
            attempt(stored)


def test_an_empty_key_list_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenCipher(" , ")
