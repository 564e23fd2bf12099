#!/bin/sh
# Restores one dump from BACKUP_DIR into Conveyor's database: DUMP is a file name there or
# "latest". hack/backup restore runs it as a Job made from the suspended postgres-restore
# CronJob, after scaling the api and the worker to zero. --clean replaces every object the
# dump holds in one transaction; --no-owner makes the current user (whose password may be
# new since the backup) the owner of everything.
set -eu

dir=${BACKUP_DIR:-/backups}
case ${DUMP:-} in
'')
  echo "restore: set DUMP to 'latest' or to one of:" >&2
  find "$dir" -maxdepth 1 -name 'conveyor-*.dump' | sort -r | sed 's|.*/|  |' >&2
  exit 2
  ;;
latest) name=$(find "$dir" -maxdepth 1 -name 'conveyor-*.dump' | sort -r | head -n 1) ;;
*/* | .*)
  echo "restore: DUMP must be a file name in $dir, not '$DUMP'" >&2
  exit 2
  ;;
*) name=$dir/$DUMP ;;
esac
if [ -z "$name" ] || [ ! -f "$name" ]; then
  echo "restore: no dump ${DUMP} in $dir" >&2
  exit 1
fi

# shellcheck source=deploy/components/backup/connect.sh
. "${0%/*}/connect.sh"

start=$(date +%s)
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error \
  --no-password --host="$POSTGRES_HOST" --port="$POSTGRES_PORT" \
  --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" "$name"
echo "restore: ${name##*/} restored into $POSTGRES_DB on $POSTGRES_HOST in $(($(date +%s) - start)) s"
