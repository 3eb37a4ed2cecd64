# Slim Python 3.12 with the C toolchain durable-rules' source build needs.
FROM python:3.12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine engine
COPY api api
COPY rules rules
COPY fixtures fixtures
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.12-slim
COPY --from=build /install /usr/local
WORKDIR /srv
ENV IOTSEC_DATA_DIR=/srv/data
RUN useradd --create-home triage && mkdir -p /srv/data && chown triage /srv/data
USER triage
EXPOSE 8000
CMD ["iotsec-triage", "serve", "--host", "0.0.0.0", "--port", "8000"]
