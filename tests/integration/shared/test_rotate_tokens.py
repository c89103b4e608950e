"""``relay admin rotate-tokens`` on the real database: every account's access token moves to the
newest key of ``RELAY_SECRET_KEY``; a second run changes nothing; a token no key opens is
reported and the command exits non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from relay import admin
from shared.db import Database
from shared.secrets import TokenCipher

pytestmark = pytest.mark.integration


def rotate(mongo_url: str, db_name: str, keys: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(RELAY_MONGODB_URL=mongo_url, RELAY_MONGODB_DB=db_name, RELAY_SECRET_KEY=keys)
    return subprocess.run([sys.executable, "-m", "relay.cli", "admin", "rotate-tokens"],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


async def add_account(db: Database, key: str, token: str) -> dict[str, Any]:
    user = await admin.create_user(db, "rotation")
    return await admin.create_account(
        db, TokenCipher(key), user_id=user["userId"], name="a", phone_number_id=token,
        display_phone_number="+15550000001", access_token=token)


async def stored_tokens(db: Database) -> dict[str, str]:
    return {doc["_id"]: doc["accessToken"] async for doc in db.accounts.find({})}


async def test_every_token_moves_to_the_newest_key_and_a_rerun_changes_nothing(
    db: Database, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    tokens = {"EAAG-old-1": "old-key", "EAAG-old-2": "old-key", "EAAG-new-3": "new-key"}
    ids = {(await add_account(db, key, token))["_id"]: token for token, key in tokens.items()}

    first = rotate(mongo_url, db_name, "new-key,old-key", tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"accounts": 3, "rotated": 2, "current": 1,
                                        "changedMeanwhile": 0, "unreadable": []}
    assert "3 accounts checked" in first.stderr  # progress
    newest_only = TokenCipher("new-key")
    after = await stored_tokens(db)
    assert {i: newest_only.decrypt(after[i]) for i in ids} == ids

    second = rotate(mongo_url, db_name, "new-key,old-key", tmp_path)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["rotated"] == 0
    assert await stored_tokens(db) == after


async def test_a_token_no_key_opens_is_named_and_fails_the_run(
    db: Database, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    lost = await add_account(db, "lost-key", "EAAG-lost")
    kept = await add_account(db, "old-key", "EAAG-kept")
    done = rotate(mongo_url, db_name, "new-key,old-key", tmp_path)
    assert done.returncode != 0
    report = json.loads(done.stdout)
    assert report["unreadable"] == [lost["_id"]] and report["rotated"] == 1
    assert "RELAY_SECRET_KEY" in done.stderr
    stored = await stored_tokens(db)
    assert stored[lost["_id"]] == lost["accessToken"]  # left as it was
    assert TokenCipher("new-key").decrypt(stored[kept["_id"]]) == "EAAG-kept"
