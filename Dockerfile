# Slim Python 3.13 with the C toolchain durable-rules' source build needs.
FROM python:3.13-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine engine
COPY api api
COPY rules rules
COPY fixtures fixtures
# durable-rules 2.0.28 (source only) calls PyEval_CallObject, which 3.13 removed; the define maps
# it onto PyObject_CallObject, the same call. Compiled here, never taken from a cached wheel.
RUN CPPFLAGS=-DPyEval_CallObject=PyObject_CallObject \
    pip install --no-cache-dir --no-binary durable-rules --prefix=/install .

FROM python:3.13-slim
COPY --from=build /install /usr/local
RUN python -c 'import durable.lang, api.cli'
WORKDIR /srv
ENV IOTSEC_DATA_DIR=/srv/data
RUN useradd --create-home triage && mkdir -p /srv/data && chown triage /srv/data
USER triage
EXPOSE 8000
CMD ["iotsec-triage", "serve", "--host", "0.0.0.0", "--port", "8000"]
