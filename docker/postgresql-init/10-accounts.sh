#!/usr/bin/env bash
# PostgreSQL image init step (runs once, on an empty data volume): the schema's three roles.
#   DB_OWNER   owns the public schema of POSTGRES_DB: runs `ingest-migrate`, which creates the
#              tables and grants the other two exactly what they need
#   DB_WRITER  the stream's role; DB_READER the dashboard's and the commands'
# Passwords come from the Docker secrets /run/secrets/db_{owner,writer,reader}; psql reads them
# through variables, so none reaches a command line.
set -euo pipefail

for name in "$DB_OWNER" "$DB_WRITER" "$DB_READER"; do
	[[ "$name" =~ ^[a-z0-9_]{1,63}$ ]] || { echo "DB_* roles: lower-case letters, digits, _" >&2; exit 1; }
done

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v owner="$DB_OWNER" -v writer="$DB_WRITER" -v reader="$DB_READER" \
	-v owner_password="$(tr -d '\n' < /run/secrets/db_owner)" \
	-v writer_password="$(tr -d '\n' < /run/secrets/db_writer)" \
	-v reader_password="$(tr -d '\n' < /run/secrets/db_reader)" <<-'EOSQL'
	CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
	CREATE ROLE :"writer" LOGIN PASSWORD :'writer_password';
	CREATE ROLE :"reader" LOGIN PASSWORD :'reader_password';
	REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
	GRANT CONNECT ON DATABASE :"DBNAME" TO :"owner", :"writer", :"reader";
	ALTER SCHEMA public OWNER TO :"owner";
	REVOKE ALL ON SCHEMA public FROM PUBLIC;
	GRANT USAGE ON SCHEMA public TO :"writer", :"reader";
EOSQL
