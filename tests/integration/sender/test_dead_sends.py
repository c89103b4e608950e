"""A dead-lettered send command does not leave its message Queued for ever: the sender
dispatches it once more, and dead-lettered again it is Failed with the reason (real RabbitMQ,
real database, a running sender)."""

from __future__ import annotations

import pytest

from shared import topology
from shared.broker import Broker
from tests.conftest import eventually
from tests.integration.sender.support import Seeder

pytestmark = pytest.mark.integration


class TestDeadLetteredSend:
    async def test_a_command_that_keeps_dying_ends_failed_with_the_reason(
        self, seeder: Seeder, sim, sender, broker: Broker
    ) -> None:
        account = await seeder.account()
        # No recipient: the send handler raises, and the consumer dead-letters the command.
        [doc] = await seeder.messages(account, to="")
        await seeder.publish(doc)

        async def failed() -> dict | None:
            found = await seeder.status(doc)
            return found if found["status"] != "Queued" else None

        final = await eventually(failed, timeout=30, message="the dead send settled")
        assert final["status"] == "Failed"
        assert final["deadLetters"] == 1  # dispatched once more before failing
        assert "dead-lettered 2 times" in final["errorMessage"]
        assert "relay.send." in final["errorMessage"]
        assert await sim.sends() == []
        # The operators' copies stay in relay.dead.
        assert await broker.queue_depth(topology.DEAD_QUEUE) == 2

    async def test_settle_dispatches_a_queued_message_once_more(
        self, seeder: Seeder, sender
    ) -> None:
        account = await seeder.account()
        [doc] = await seeder.messages(account)
        assert sender.sweeper is not None
        dead = sender.sweeper.dead_sends
        assert await dead.settle(doc["_id"], "relay.send.0", "rejected") == "redispatched"
        assert (await seeder.status(doc))["deadLetters"] == 1
