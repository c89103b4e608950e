#!/usr/bin/env bash
# Make sure `promtool` (the alert rules' checker, from Debian's `prometheus` package) is on PATH:
# install it through apt when it is absent and we are root; otherwise say how and fail, so the
# alert tests in `make test` never skip silently.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "relay: installing promtool (Debian package prometheus) through apt..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends prometheus >/dev/null
  }
  command -v promtool >/dev/null 2>&1 && exit 0
fi
echo "relay: promtool is missing: apt-get install --no-install-recommends prometheus (as root)," >&2
echo "       or put a promtool from https://prometheus.io/download/ on PATH." >&2
exit 1
