#!/usr/bin/env bash
# Runs once, when the MariaDB volume is first created (docker-entrypoint-initdb.d).
# One utf8mb4 database per department, each with its own user limited to that database.
set -euo pipefail

create() {  # create <user> <password> <database>
  mariadb --user=root --password="$MARIADB_ROOT_PASSWORD" <<SQL
CREATE DATABASE \`$3\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER '$1'@'%' IDENTIFIED BY '$2';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES
  ON \`$3\`.* TO '$1'@'%';
SQL
}

create helpdesk "$SYSTEM_DB_PASSWORD" helpdesk_system
for name in $HELPDESK_DEPARTMENTS; do
  upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
  password_var="${upper}_DB_PASSWORD"
  create "$name" "${!password_var:?$password_var is not set}" "$name"
done
