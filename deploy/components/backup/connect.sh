# shellcheck shell=sh
# Sourced by backup.sh and restore.sh: libpq's password file, and a PostgreSQL that answers.
umask 077
pgpass=$(mktemp)
trap 'rm -f "$pgpass"' EXIT
# libpq reads the password from a file of its own: never on a command line or in the environment.
printf '*:*:*:*:%s\n' "$(sed 's/[\\:]/\\&/g' "$POSTGRES_PASSWORD_FILE")" >"$pgpass"
export PGPASSFILE="$pgpass"

# A new pod's first packets may beat the NetworkPolicy enforcer's update, and PostgreSQL
# may be restarting: wait up to a minute for it to answer.
tries=30
until pg_isready --quiet --timeout=2 --host="$POSTGRES_HOST" --port="$POSTGRES_PORT"; do
  tries=$((tries - 1))
  [ "$tries" -gt 0 ] || { echo "${0##*/}: PostgreSQL at $POSTGRES_HOST:$POSTGRES_PORT does not answer" >&2; exit 1; }
  sleep 2
done
