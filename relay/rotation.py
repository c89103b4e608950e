"""``relay admin rotate-tokens``: every stored access token re-encrypted under the newest key.

``RELAY_SECRET_KEY=new,old`` decrypts with either key and encrypts with ``new``; this pass moves
every account's token to ``new`` so that ``old`` can then be dropped. A token already under the
newest key is left as it is, so running it again changes nothing. Each write is conditional on the
token it read: a token replaced meanwhile (a ``PATCH`` of the account) is not overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shared.db import Database
from shared.secrets import TokenCipher

Progress = Callable[[int], None]


@dataclass
class RotationReport:
    """What one pass did: accounts seen, tokens re-encrypted, already current, unreadable."""

    accounts: int = 0
    rotated: int = 0
    current: int = 0
    changed_meanwhile: int = 0
    unreadable: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"accounts": self.accounts, "rotated": self.rotated, "current": self.current,
                "changedMeanwhile": self.changed_meanwhile, "unreadable": self.unreadable}


async def rotate_tokens(
    db: Database, cipher: TokenCipher, *, progress: Progress | None = None
) -> RotationReport:
    """Re-encrypt every account's ``accessToken`` under ``cipher``'s newest key."""
    report = RotationReport()
    async for doc in db.accounts.find({}, {"accessToken": 1}).sort("_id", 1):
        report.accounts += 1
        await _rotate_one(db, cipher, doc, report)
        if progress is not None:
            progress(report.accounts)
    return report


async def _rotate_one(
    db: Database, cipher: TokenCipher, doc: dict[str, object], report: RotationReport
) -> None:
    stored = doc.get("accessToken")
    if not isinstance(stored, str) or cipher.is_current(stored):
        report.current += 1
        return
    try:
        rotated = cipher.rotate(stored)
    except ValueError:
        report.unreadable.append(str(doc["_id"]))
        return
    result = await db.accounts.update_one(
        {"_id": doc["_id"], "accessToken": stored}, {"$set": {"accessToken": rotated}})
    if result.modified_count:
        report.rotated += 1
    else:
        report.changed_meanwhile += 1
