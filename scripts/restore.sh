#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into a new database and document store, then
# check the copy with `portal backup verify`. Run `scripts/restore.sh --help` for details.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/restore.sh [--files DIR] [--files-owner USER[:GROUP]] [--sample N]
                          BACKUP_DIR TARGET_DATABASE_URL

Restores a backup made by scripts/backup.sh, in this order, stopping at the first problem:

  1. checks manifest.txt's SHA-256 of database.dump and files.tar: nothing is restored from
     a damaged backup. The manifest is not signed, so this catches accidental damage only: a
     deliberate change with recomputed digests is not detected (keep backups where only the
     backup service can write);
  2. creates the target database, or uses it if it exists and is empty (it never restores
     over a database that holds anything);
  3. pg_restore --no-owner --no-privileges in a single transaction: the restoring role (the
     target's owner, as for `portal db upgrade`) owns every table, and the dump's grants,
     which name the source server's roles, are not replayed; the append-only triggers on the
     audit tables are restored with the schema;
  4. restates the portal_app role's grants with `portal db upgrade <the backup's revision>`
     (read and write on business tables, only SELECT and INSERT on the audit trail);
  5. unpacks the documents into DIR (new or empty), owned by USER[:GROUP] if given;
  6. runs `portal backup verify --sample N` against the copy: the keyring check, the whole
     audit chain, and a sample of sealed records and documents decrypted.

  --files DIR    where the documents go (default: $PORTAL_ATTACHMENTS__STORAGE_DIRECTORY)
  --files-owner USER[:GROUP]
                 chown -R the restored documents to the account the portal runs as (for
                 example portal:portal, or numeric ids). Without it they belong to whoever
                 restores them, mode 600: run as root, the portal could not read them (step
                 6, also as root, would not notice), so the script warns with the command to
                 run
  --sample N     records and documents to decrypt per table in step 6 (default 20)

TARGET_DATABASE_URL is a SQLAlchemy (postgresql+psycopg://...) or libpq (postgresql://...)
URL whose database name is letters, digits and underscores; keep its password out of it (it
would show in the process list): use ~/.pgpass, PGPASSFILE or PGPASSWORD. The role restoring
must be allowed to create the database (or own the empty one) and, where the portal_app role
does not exist yet on that server, to create roles. The `portal` command must be on
PATH, from the release that made the backup, and configured as for the live portal
(PORTAL_ENV, PORTAL_CONFIG...): steps 4 and 6 need the keyring and the audit checkpoint key,
which are never in the backup (they are restored from their own, separate backup).
EOF
}

fail() {
  echo "restore: $*" >&2
  exit 1
}

files_dir="${PORTAL_ATTACHMENTS__STORAGE_DIRECTORY:-}"
files_owner=""
sample=20
arguments=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --files) [[ $# -ge 2 ]] || fail "--files needs a directory"; files_dir="$2"; shift 2 ;;
    --files-owner) [[ $# -ge 2 ]] || fail "--files-owner needs USER[:GROUP]"; files_owner="$2"; shift 2 ;;
    --sample) [[ $# -ge 2 ]] || fail "--sample needs a number"; sample="$2"; shift 2 ;;
    -*) fail "unknown option $1 (see --help)" ;;
    *) arguments+=("$1"); shift ;;
  esac
done
[[ ${#arguments[@]} -eq 2 ]] || { usage >&2; exit 2; }
backup="${arguments[0]}"
target_url="${arguments[1]}"
[[ "$sample" =~ ^[1-9][0-9]*$ ]] || fail "--sample must be a whole number above 0"
[[ -n "$files_dir" ]] || fail "no document store: pass --files or set PORTAL_ATTACHMENTS__STORAGE_DIRECTORY"
if [[ -n "$files_owner" ]]; then
  # Checked before anything is restored: an unknown account would stop the restore half-way.
  owner_name="${files_owner%%:*}"
  owner_group=""
  [[ "$files_owner" == *:* ]] && owner_group="${files_owner#*:}"
  [[ "$owner_name" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ && "$owner_group" =~ ^([A-Za-z0-9_][A-Za-z0-9_.-]*)?$ ]] ||
    fail "--files-owner must be USER or USER:GROUP"
  [[ "$owner_name" =~ ^[0-9]+$ ]] || id -u -- "$owner_name" >/dev/null 2>&1 ||
    fail "--files-owner: there is no user $owner_name"
  [[ -z "$owner_group" || "$owner_group" =~ ^[0-9]+$ ]] || getent group -- "$owner_group" >/dev/null ||
    fail "--files-owner: there is no group $owner_group"
fi

# 1. The manifest: both parts listed, both digests right.
manifest="$backup/manifest.txt"
[[ -f "$manifest" ]] || fail "$backup has no manifest.txt: the backup is unfinished or not a portal backup"
grep -qx 'portal-backup-format: 1' "$manifest" || fail "$manifest is not a portal backup manifest (format 1)"
digests="$(grep -E '^[0-9a-f]{64}  (database\.dump|files\.tar)$' "$manifest" || true)"
for part in database.dump files.tar; do
  grep -q "  $part\$" <<<"$digests" || fail "$manifest lists no digest for $part"
done
(cd "$backup" && sha256sum --check --strict --quiet <<<"$digests") ||
  fail "the backup in $backup does not match its manifest (a part is damaged or was changed): nothing was restored"
revision="$(sed -n 's/^alembic-revision: //p' "$manifest")"
[[ "$revision" =~ ^[0-9A-Za-z_]+$ ]] || fail "$manifest names no Alembic revision"
echo "==> The backup matches its manifest (schema revision $revision)"

# The URL in both forms: libpq's for the PostgreSQL tools, SQLAlchemy's for `portal`.
libpq_url="$(sed -E 's#^postgres(ql)?(\+[A-Za-z0-9_]+)?://#postgresql://#' <<<"$target_url")"
[[ "$libpq_url" =~ ^postgresql://([^/?]*)/([A-Za-z0-9_]+)(\?.*)?$ ]] ||
  fail "the target must be a PostgreSQL URL ending in a database name of letters, digits and underscores"
authority="${BASH_REMATCH[1]}"
name="${BASH_REMATCH[2]}"
query="${BASH_REMATCH[3]}"
maintenance_url="postgresql://$authority/postgres$query"
portal_url="postgresql+psycopg://${libpq_url#postgresql://}"
psql_at() {
  psql --no-psqlrc --quiet --tuples-only --no-align --set=ON_ERROR_STOP=1 --dbname="$1" --command="$2"
}

# 2. A new or empty target, never one that holds anything.
created=""
if [[ "$(psql_at "$maintenance_url" "SELECT count(*) FROM pg_database WHERE datname = '$name'")" == 0 ]]; then
  psql_at "$maintenance_url" "CREATE DATABASE \"$name\"" >/dev/null
  created="yes"
  echo "==> Created the database $name"
else
  relations="$(psql_at "$libpq_url" "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'")"
  [[ "$relations" == 0 ]] ||
    fail "the database $name is not empty: restore only into a new or empty database, never over one in use"
  echo "==> Restoring into the existing, empty database $name"
fi
if [[ -e "$files_dir" ]]; then
  [[ -d "$files_dir" && -z "$(ls -A "$files_dir")" ]] ||
    fail "$files_dir is not an empty directory: restore the documents into a new or empty one"
fi

# 3. The database, all or nothing.
echo "==> Restoring the database"
if ! pg_restore --no-owner --no-privileges --single-transaction --exit-on-error \
  --dbname="$libpq_url" "$backup/database.dump"; then
  if [[ -n "$created" ]]; then
    psql_at "$maintenance_url" "DROP DATABASE \"$name\"" >/dev/null || true
  fi
  fail "pg_restore failed (above); nothing was restored"
fi

# 4. The app role's grants, from the migrations' own code, at the backup's own revision.
echo "==> Restating the portal_app role's grants"
PORTAL_DATABASE__URL="$portal_url" portal db upgrade "$revision"

# 5. The documents (already encrypted), owned by whoever restores them or by --files-owner.
echo "==> Unpacking the documents into $files_dir"
umask 077
mkdir -p "$files_dir"
tar --extract --file="$backup/files.tar" --directory="$files_dir" --no-same-owner
owner_warning=""
if [[ -n "$files_owner" ]]; then
  chown -R -- "$files_owner" "$files_dir" ||
    fail "could not give the documents in $files_dir to $files_owner (above): the database is restored; run chown -R as root before starting the portal"
  echo "==> The documents belong to $files_owner"
elif [[ "$(id -u)" == 0 ]]; then
  owner_warning="WARNING: the documents in $files_dir belong to root (mode 600): the portal cannot read them. Before starting it, run: chown -R portal:portal $(printf '%q' "$files_dir") (with the account the portal runs as), or restore with --files-owner."
  echo "restore: $owner_warning" >&2
fi

# 6. The copy, checked with the keyring and the audit checkpoint key.
echo "==> Verifying the restored copy"
PORTAL_DATABASE__URL="$portal_url" PORTAL_ATTACHMENTS__STORAGE_DIRECTORY="$files_dir" \
  portal backup verify --sample "$sample"
echo "Restored $backup into the database $name and $files_dir, and verified it."
if [[ -n "$owner_warning" ]]; then
  echo "restore: $owner_warning" >&2
fi
