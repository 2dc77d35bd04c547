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
# DIFFSTREAM_HOME in the compose file: named volumes mounted under it take this ownership
# (a fresh one would be root's, unwritable for nobody); sticky and open to any uid, for the
# demo that runs as the host user to write its contact sheet into ./demo-output.
RUN mkdir -p /tmp/diffstream/models /tmp/diffstream/demo && chmod -R 1777 /tmp/diffstream
USER nobody
ENTRYPOINT []
CMD ["diffstream", "--help"]
