# The ACD server. Build: docker build -t acd . ; run: docker run -p 8080:8080 acd
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY acd ./acd
COPY adapters ./adapters
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system acd
USER acd
EXPOSE 8080 4573
ENTRYPOINT ["acd"]
CMD ["run", "--config", "config/acd.toml"]
