#!/bin/sh
# One logical backup of Conveyor's database (pg_dump custom format) into BACKUP_DIR,
# keeping the newest BACKUP_KEEP. The postgres-backup CronJob runs it in the PostgreSQL
# image, so pg_dump is the server's major version; the connection settings are the
# app's own (conveyor-config) and the password is read from the mounted Secret.
set -eu

dir=${BACKUP_DIR:-/backups}
keep=${BACKUP_KEEP:-7}
case $keep in
'' | *[!0-9]* | 0)
  echo "backup: BACKUP_KEEP must be a positive number, not '$keep'" >&2
  exit 2
  ;;
esac

# shellcheck source=deploy/components/backup/connect.sh
. "${0%/*}/connect.sh"
partial=
trap 'rm -f "$pgpass" ${partial:+"$partial"}' EXIT

name=conveyor-$(date -u +%Y%m%dT%H%M%SZ).dump
partial=$dir/.$name.partial
start=$(date +%s)
pg_dump --format=custom --no-password --host="$POSTGRES_HOST" --port="$POSTGRES_PORT" \
  --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" --file="$partial"
# A dump counts once it reads back; the rename makes it appear whole or not at all.
pg_restore --list "$partial" >/dev/null
mv "$partial" "$dir/$name"
partial=
echo "backup: $name $(wc -c <"$dir/$name" | tr -d ' ') bytes in $(($(date +%s) - start)) s"

# The newest $keep dumps stay; the names sort by time.
find "$dir" -maxdepth 1 -name 'conveyor-*.dump' | sort -r | tail -n +"$((keep + 1))" | while read -r old; do
  rm -f "$old"
  echo "backup: removed ${old##*/} (keeping the newest $keep)"
done
