# The diffstream roles for docker-compose.yml. EXTRAS=inference adds torch and diffusers
# for the processors; the other roles run on the base install.
FROM python:3.11-slim
ARG EXTRAS=""
WORKDIR /app
COPY pyproject.toml README.md ./
COPY diffstream diffstream
COPY diffstream_cli diffstream_cli
COPY schemas schemas
COPY producers producers
COPY processors processors
COPY sinks sinks
COPY infra infra
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}"
USER nobody
ENTRYPOINT []
CMD ["diffstream", "--help"]
