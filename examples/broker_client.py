"""A small internal service that sends a WhatsApp message through Relay's broker interface and
prints the events of that message as they arrive.

    RELAY_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ \\
    python examples/broker_client.py --user-id USER --account-id ACCOUNT --to +15551234567 \\
        --text "Your order shipped"

It binds its own exclusive queue to ``relay.events`` (``message.#``), publishes one
``message.send`` command on ``relay.commands`` with a fresh ``idempotencyKey``, and follows the
events carrying that key (then that message id) until the message is Read, Failed or refused,
or ``--timeout`` seconds pass. Publishing the same key again would create no second message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import uuid
from typing import Any

import aio_pika

COMMANDS = "relay.commands"
EVENTS = "relay.events"
FINAL = {"message.read", "message.failed", "message.rejected", "message.cancelled"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-url", default=os.environ.get(
        "RELAY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--user-id", required=True, help="the Relay user sending")
    parser.add_argument("--account-id", required=True, help="a Connected account of that user")
    parser.add_argument("--to", required=True, help="recipient in E.164, e.g. +15551234567")
    parser.add_argument("--text", default="Hello from the broker interface")
    parser.add_argument("--key", default=None, help="idempotency key (default: a new one)")
    parser.add_argument("--timeout", type=float, default=60.0)
    return parser.parse_args(argv)


def send_command(args: argparse.Namespace, key: str) -> dict[str, Any]:
    return {"userId": args.user_id, "idempotencyKey": key, "whatsappAccountId": args.account_id,
            "to": args.to, "type": "Text", "content": args.text}


async def follow(args: argparse.Namespace) -> int:
    key = args.key or f"example-{uuid.uuid4()}"
    connection = await aio_pika.connect_robust(args.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        events = await channel.declare_exchange(EVENTS, aio_pika.ExchangeType.TOPIC,
                                                durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(events, routing_key="message.#")
        commands = await channel.declare_exchange(COMMANDS, aio_pika.ExchangeType.TOPIC,
                                                  durable=True)
        body = json.dumps(send_command(args, key)).encode()
        await commands.publish(aio_pika.Message(
            body, content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key="message.send")
        print(f"published message.send with idempotencyKey={key}", flush=True)
        return await print_events(queue, key, args.timeout)


async def print_events(queue: aio_pika.abc.AbstractQueue, key: str, timeout: float) -> int:
    message_id: str | None = None
    done = asyncio.Event()
    outcome = {"code": 1}

    async def on_event(incoming: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal message_id
        event = json.loads(incoming.body)
        mine = event.get("idempotencyKey") == key or (
            message_id is not None and event.get("messageId") == message_id)
        if not mine:
            return
        message_id = message_id or event.get("messageId")
        extra = event.get("reason") or event.get("errorMessage") or ""
        print(f"{event['occurredAt']}  {event['type']:<18} message={event.get('messageId')} "
              f"status={event.get('status')} {extra}".rstrip(), flush=True)
        if event["type"] in FINAL:
            outcome["code"] = 0 if event["type"] == "message.read" else 2
            done.set()

    await queue.consume(on_event, no_ack=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout)
    if not done.is_set():
        print(f"no final event within {timeout:.0f} s (last message id: {message_id})")
    return outcome["code"] if done.is_set() else 0 if message_id else 1


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(follow(parse_args(argv))))


if __name__ == "__main__":
    main()
