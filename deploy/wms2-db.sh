#!/bin/sh
# The WMS2 records live in their own database beside Temporal's. Run once by the
# postgres image on an empty data directory (docker-entrypoint-initdb.d); the password
# comes from the environment (.env), never from this file.
set -eu
: "${WMS2_DB_PASSWORD:?set WMS2_DB_PASSWORD (see README, Production deployment)}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v pw="$WMS2_DB_PASSWORD" <<'SQL'
CREATE USER wms2 WITH PASSWORD :'pw';
CREATE DATABASE wms2 OWNER wms2;
SQL
