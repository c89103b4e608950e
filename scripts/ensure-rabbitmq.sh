#!/usr/bin/env bash
# Make sure a RabbitMQ answers on 127.0.0.1:5672: install it through apt when it is absent and we
# are root (INSTALL=1), start it when it is installed and down, wait until it is up.
set -euo pipefail
answers() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if answers; then exit 0; fi
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  if [ "${INSTALL:-0}" = "1" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "relay: installing rabbitmq-server through apt..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server >/dev/null
  else
    echo "relay: RabbitMQ is not installed and not running on 127.0.0.1:5672." >&2
    echo "       Install it (apt-get install rabbitmq-server, as root) or set RELAY_AMQP_URL." >&2
    exit 1
  fi
fi
echo "relay: starting RabbitMQ..." >&2
rabbitmq-server -detached >/dev/null 2>&1 || true
for _ in $(seq 1 90); do
  if rabbitmqctl -q await_startup >/dev/null 2>&1 && answers; then exit 0; fi
  sleep 1
done
echo "relay: RabbitMQ did not come up within 90 s; see 'rabbitmqctl status'." >&2
exit 1
