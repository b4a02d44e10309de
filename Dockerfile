# The rebalancer daemon. Build from the repository root:
#   docker build -t rebalancer:local .
# Mount the config at /app/config/rebalancer.toml; the journal, kill-switch file and any state live in
# /app/var (a volume). Keys come from the environment or /run/secrets/rebalancer, never from the image.
# deploy/docker-compose.yml runs it against the local exchange; deploy/README.md explains the rest.

# ---------------------------------------------------------------- build: a self-contained venv in /opt/venv
FROM python:3.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install --no-cache-dir .

# ---------------------------------------------------------------- runtime: the same base, no build leftovers
FROM python:3.11-slim-bookworm

LABEL org.opencontainers.image.title="rebalancer" \
      org.opencontainers.image.description="Synthetic rebalancer: keeps spot + perp exposure on target with perp hedges" \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A fixed uid/gid so volume ownership and Kubernetes' runAsUser/fsGroup can name it.
RUN groupadd --system --gid 10001 rebalancer \
    && useradd --system --uid 10001 --gid rebalancer --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin rebalancer

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# The example configs (root-owned, read-only for the daemon): sim-example.toml seeds the local exchange.
COPY config/ /app/config/
RUN mkdir -p /app/var && chown rebalancer:rebalancer /app/var

USER 10001:10001
VOLUME ["/app/config", "/app/var"]

# /healthz and /metrics; the config must set [health] host = "0.0.0.0" (and keep port 9108) for this
# HEALTHCHECK and for a published port to reach it. No curl in slim images: Python's urllib does it.
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4).status == 200 else 1)"]

# SIGTERM lets the in-flight cycle settle its orders, then exits 0: give `docker stop` a long enough -t.
STOPSIGNAL SIGTERM
ENTRYPOINT ["rebalancer"]
CMD ["run", "--config", "/app/config/rebalancer.toml"]
