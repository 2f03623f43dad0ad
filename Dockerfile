# The prediction service over a trained bundle and its online store (run `make repro` first).
# docker build -t tabstudy-serve . && docker run -p 8000:8000 tabstudy-serve
# Stage 1 installs the pinned lock (with hashes) into a virtual environment; stage 2 copies it.
FROM python:3.11-slim AS build
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml ./
COPY src ./src
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/python -c "from tabstudy import numerics; numerics.install_hook()"

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 tabstudy
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TABSTUDY_WORKDIR=/app \
    TF_CPP_MIN_LOG_LEVEL=2
COPY --from=build /opt/venv /opt/venv
COPY params.yaml ./
COPY models/bundle ./models/bundle
COPY data/online ./data/online
RUN mkdir -p data/serving && chown -R tabstudy:tabstudy data/serving
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"]
CMD ["tabstudy", "serve", "--host", "0.0.0.0"]
