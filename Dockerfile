# The diffstream roles for docker-compose.yml. Base install only: no torch (see pyproject extras).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY diffstream diffstream
COPY schemas schemas
COPY producers producers
COPY processors processors
COPY sinks sinks
COPY infra infra
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT []
CMD ["diffstream", "--help"]
