# One Dockerfile, two targets:
#   api:    FastAPI + SQLAlchemy + Celery client, no PyTorch (small, starts fast)
#   worker: the above plus PyTorch and the GAN (`models/`)
# docker build --target api -t atelier-api .   /   docker build --target worker -t atelier-worker .
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    ATELIER_DATA_DIR=/data
RUN useradd --create-home --uid 1000 atelier && mkdir /data && chown atelier /data
WORKDIR /srv/atelier
COPY pyproject.toml alembic.ini ./
COPY app ./app
COPY worker ./worker
COPY models ./models
COPY cli ./cli
COPY contracts ./contracts
COPY migrations ./migrations

FROM base AS api
RUN pip install '.[service]'
USER atelier
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["atelier", "api", "--host", "0.0.0.0", "--port", "8000"]

FROM base AS worker
RUN pip install '.[gan,service]'
USER atelier
# Solo pool: one process per GPU (CUDA cannot re-initialise in a forked child).
CMD ["atelier", "worker", "-Q", "inference,training", "--pool", "solo"]
