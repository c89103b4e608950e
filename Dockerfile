# syntax=docker/dockerfile:1
# Relay: one image for every service. `docker run IMAGE sender` runs `relay serve sender`.
# Build:  docker build -t relay:0.1.0 .     (deploy/README.md: pushing and deploying)

# ---- builder: wheels of the project and its pinned dependencies, installed into a venv ----
FROM python:3.11.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY relay ./relay
COPY services ./services

# Every dependency ships a manylinux wheel, so no compiler is needed even here.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels relay \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---- runtime: the slim base, the venv, a non-root user; no build tools, no source tree ----
FROM python:3.11.11-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="relay" \
      org.opencontainers.image.description="Relay, a WhatsApp messaging backend" \
      org.opencontainers.image.source="https://example.com/relay"

RUN groupadd --system --gid 10001 relay \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin relay

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
