# HTTP Polling Connector worker: `http-polling-connector run`, configured by environment
# variables (see README). Build: docker build -t http-polling-connector .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY connector ./connector
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --no-create-home connector \
 && mkdir -p /var/lib/http-polling-connector \
 && chown 10001:10001 /var/lib/http-polling-connector
USER 10001
# Where observed activations whose publish failed are kept across restarts (--state-dir):
# mount a volume here (a new volume takes this directory's owner).
VOLUME /var/lib/http-polling-connector
# The status port (health probes, metrics, /inbound, the status page) listens on the
# container's loopback only, so the image is safe by default: the HEALTHCHECK below still
# works. To reach it from outside the container (docker -p, compose, Kubernetes probes) set
# CONNECTOR_HTTP_HOST=0.0.0.0 and publish it on 127.0.0.1 (-p 127.0.0.1:9090:9090), or protect
# it with CONNECTOR_STATUS_TOKEN / CONNECTOR_STATUS_BASIC_AUTH.
ENV PYTHONUNBUFFERED=1 \
    CONNECTOR_HTTP_HOST=127.0.0.1 \
    CONNECTOR_HTTP_PORT=9090
EXPOSE 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9090/health/live', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["http-polling-connector"]
CMD ["run"]
