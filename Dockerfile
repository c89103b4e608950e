# syntax=docker/dockerfile:1
# Relay: one image for every service. `docker run IMAGE sender` runs `relay serve sender`.
# Build:  docker build -t relay:0.1.0 .     (deploy/README.md: pushing and deploying)

# Base images are pinned by digest (a tag can be re-pushed, a digest cannot). To refresh, take
# the current digest of the tag (`docker buildx imagetools inspect python:3.11.11-slim-bookworm`,
# or `crane digest`) and put it in both FROM lines; Dependabot's docker updates do the same
# (.github/dependabot.yml). Debian security fixes newer than the digest: the apt-get upgrade below.

# ---- builder: the hashed lock installed into a venv, then Relay's own wheel, all --no-deps ----
FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5 AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only the lock files first (a layer cached until they change). requirements/prod.txt holds the
# runtime packages and nothing else: no nx-27017 (the `embedded` extra), no test tools.
COPY requirements/build.txt requirements/prod.txt ./requirements/
RUN pip install --require-hashes --no-deps -r requirements/build.txt \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --require-hashes --no-deps \
       -r requirements/prod.txt

# The four services and what they share; not services/simulator (its own distribution).
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY relay ./relay
COPY services/api-gateway ./services/api-gateway
COPY services/sender ./services/sender
COPY services/ingest ./services/ingest
COPY services/stats ./services/stats

RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && pip --python /opt/venv/bin/python install --no-deps --no-index /wheels/relay-*.whl \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---- runtime: the slim base, the venv, a non-root user; no build tools, no source tree ----
FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5 AS runtime

LABEL org.opencontainers.image.title="relay" \
      org.opencontainers.image.description="Relay, a WhatsApp messaging backend" \
      org.opencontainers.image.source="https://example.com/relay"

# Debian security updates published since the base digest was taken; /var/lib/relay is the
# app user's data dir for a volume (docker-compose.yml), /tmp the default (RELAY_DATA_DIR).
RUN apt-get update \
    && apt-get upgrade -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 relay \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin relay \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/relay

# Root-owned on purpose: the app user can run the code but never rewrite it.
COPY --from=builder --chown=0:0 /opt/venv /opt/venv
COPY --chown=0:0 deploy/docker/healthcheck.py /usr/local/bin/relay-healthcheck

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RELAY_HOST=0.0.0.0 \
    RELAY_DATA_DIR=/tmp/relay \
    RELAY_LOG_FORMAT=json

WORKDIR /tmp
USER 10001:10001

EXPOSE 8080 8081 8082 8083

# Probes /health/live on the running service's port (RELAY_SERVICE, else PID 1's argument).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/usr/local/bin/relay-healthcheck"]

ENTRYPOINT ["relay", "serve"]
CMD ["gateway"]
