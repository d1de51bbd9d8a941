# The ACD server (see the README, "Docker").
#   docker build -t acd .
#   docker run -p 8080:8080 -p 4573:4573 -v acd-data:/app/data \
#       -v $PWD/my-acd.toml:/app/config/acd.toml:ro acd
# The image listens on all interfaces (HTTP 8080, FastAGI 4573); the shipped
# config/acd.toml has public demo passwords: mount your own (`acd
# hash-password` for its hashes). /app/data (the customer store) is a volume
# the unprivileged user `acd` can write.

# Build stage: a C compiler, so setup.py compiles the routing core (mypyc).
FROM python:3.11 AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY acd ./acd
COPY adapters ./adapters
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && python -c "import zipfile, glob; w, = glob.glob('/wheels/acd_router-*.whl'); \
assert 'acd/_compiled.json' in zipfile.ZipFile(w).namelist(), 'routing core not compiled'"

FROM python:3.11-slim
WORKDIR /app
COPY --from=build /wheels /wheels
COPY config ./config
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels && useradd --system --no-create-home acd \
    && mkdir -p /app/data && chown acd /app/data
VOLUME /app/data
USER acd
# 8080: HTTP, WebSockets, metrics; 4573: FastAGI (Asterisk)
EXPOSE 8080 4573
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["acd"]
CMD ["run", "--config", "config/acd.toml", "--listen", "0.0.0.0:8080", "--agi-listen", "0.0.0.0:4573"]
