#!/bin/sh
# Creates (or upgrades) Temporal's two PostgreSQL databases. Safe to run again.
set -eu
# The password comes from SQL_PASSWORD in the environment.
tool="temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u temporal"
schema=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
  $tool --db "$db" create || true  # already exists on a restart
done
$tool --db temporal setup-schema -v 0.0 || true
$tool --db temporal update-schema -d "$schema/temporal/versioned"
$tool --db temporal_visibility setup-schema -v 0.0 || true
$tool --db temporal_visibility update-schema -d "$schema/visibility/versioned"
