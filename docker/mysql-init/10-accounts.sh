# shellcheck shell=bash
# MySQL image init step (runs once, on an empty data volume): the schema's three accounts.
#   DB_OWNER   all rights on the schema, with GRANT OPTION: runs `ingest-migrate`, which creates
#              the tables and grants the other two exactly what they need
#   DB_WRITER  the stream's account; DB_READER the dashboard's and the commands'
# Their passwords come from the Docker secrets /run/secrets/db_{owner,writer,reader}.
#
# The image's entrypoint SOURCES this file (it is not executable on purpose), so
# docker_process_sql and mysql_error are available and no password reaches a command line.

if ! declare -F docker_process_sql >/dev/null; then
	echo "$0: must be sourced by the MySQL image's entrypoint: make it non-executable" >&2
	exit 1
fi
for name in "$DB_OWNER" "$DB_WRITER" "$DB_READER"; do
	if ! [[ "$name" =~ ^[A-Za-z0-9_]{1,32}$ ]]; then
		mysql_error "DB_OWNER, DB_WRITER and DB_READER must be 1-32 letters, digits or _"
	fi
done
if ! [[ "$MYSQL_DATABASE" =~ ^[A-Za-z0-9_]{1,64}$ ]]; then
	mysql_error "DB_NAME must be 1-64 letters, digits or _"
fi

# A secret as an SQL string literal (backslashes and quotes escaped).
_literal() {
	local value
	value="$(tr -d '\n' < "/run/secrets/$1")" || mysql_error "secret $1 is missing"
	value="${value//\\/\\\\}"
	printf '%s' "${value//\'/\\\'}"
}
# The schema name as a GRANT pattern (where _ is a wildcard unless escaped).
_schema="${MYSQL_DATABASE//_/\\_}"

mysql_note "Creating the accounts ${DB_OWNER}, ${DB_WRITER} and ${DB_READER}"
docker_process_sql --database=mysql <<-EOSQL
	CREATE USER IF NOT EXISTS '${DB_OWNER}'@'%' IDENTIFIED BY '$(_literal db_owner)';
	CREATE USER IF NOT EXISTS '${DB_WRITER}'@'%' IDENTIFIED BY '$(_literal db_writer)';
	CREATE USER IF NOT EXISTS '${DB_READER}'@'%' IDENTIFIED BY '$(_literal db_reader)';
	GRANT ALL PRIVILEGES ON \`${_schema}\`.* TO '${DB_OWNER}'@'%' WITH GRANT OPTION;
EOSQL
unset _schema
