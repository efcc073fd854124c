# shellcheck shell=bash
# MySQL image init step (runs once, on an empty data volume): the application's account with
# rights on its own schema only -- the same rights as localmysql.server.APP_PRIVILEGES.
#
# The image's entrypoint SOURCES this file (it is not executable on purpose), so
# docker_process_sql and mysql_error are available and root's password never reaches a
# command line. Inputs come from docker-compose.yml, which maps them from .env:
#   MYSQL_DATABASE                  the schema (the entrypoint has just created it)
#   APP_DB_USER, APP_DB_PASSWORD    the account (not MYSQL_USER/MYSQL_PASSWORD: with those the
#                                   entrypoint itself would GRANT ALL on the schema)
# The tables come next, from 20-schema.sql (= spark_app/sql/schema.sql).

if ! declare -F docker_process_sql >/dev/null; then
	echo "$0: must be sourced by the MySQL image's entrypoint: make it non-executable" >&2
	exit 1
fi
if [ -z "${APP_DB_USER:-}" ] || [ -z "${APP_DB_PASSWORD:-}" ] || [ -z "${MYSQL_DATABASE:-}" ]; then
	mysql_error "APP_DB_USER, APP_DB_PASSWORD and MYSQL_DATABASE must be set (see .env.example)"
fi
if ! [[ "$APP_DB_USER" =~ ^[A-Za-z0-9_]{1,32}$ && "$MYSQL_DATABASE" =~ ^[A-Za-z0-9_]{1,64}$ ]]; then
	mysql_error "MYSQL_USER and MYSQL_DATABASE must be letters, digits or _ (user: 32 at most)"
fi
if [[ "$APP_DB_PASSWORD" == *$'\n'* ]]; then
	mysql_error "MYSQL_PASSWORD must be one line"
fi

# The password as an SQL string literal (backslashes and quotes escaped), and the schema name
# as a GRANT pattern (where _ is a wildcard unless escaped).
_app_password="${APP_DB_PASSWORD//\\/\\\\}"
_app_password="${_app_password//\'/\\\'}"
_app_schema="${MYSQL_DATABASE//_/\\_}"

mysql_note "Creating user ${APP_DB_USER} with rights on schema ${MYSQL_DATABASE} only"
docker_process_sql --database=mysql <<-EOSQL
	CREATE USER IF NOT EXISTS '${APP_DB_USER}'@'%' IDENTIFIED BY '${_app_password}';
	GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX, ALTER
	    ON \`${_app_schema}\`.* TO '${APP_DB_USER}'@'%';
EOSQL
unset _app_password _app_schema
