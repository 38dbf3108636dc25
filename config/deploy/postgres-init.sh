#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is first created (docker-entrypoint-initdb.d).
# Creates the system database and one database per department, each owned by its own login
# role, and takes CONNECT away from everyone else: a leaked department password exposes only
# that department.
set -euo pipefail

create() {  # create <role> <password> <database>
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="$1" -v password="$2" -v db="$3" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
}

create helpdesk "$SYSTEM_DB_PASSWORD" helpdesk_system
for name in $HELPDESK_DEPARTMENTS; do
  upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
  password_var="${upper}_DB_PASSWORD"
  create "$name" "${!password_var:?$password_var is not set}" "$name"
done
