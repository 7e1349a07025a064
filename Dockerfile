# The WMS2 worker image: the same package `make install` builds, without dev extras.
FROM python:3.11-slim
WORKDIR /opt/wms2
COPY pyproject.toml README.md alembic.ini ./
COPY wms2 ./wms2
COPY workflows ./workflows
COPY activities ./activities
COPY cli ./cli
COPY worker.py starter.py ./
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/wms2 wms2 \
    && mkdir -p /var/lib/wms2 && chown wms2 /var/lib/wms2
USER wms2
CMD ["python", "-m", "worker"]
