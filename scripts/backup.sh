#!/usr/bin/env bash
# Back up the portal: its PostgreSQL database and its encrypted document store, with a
# manifest of digests. Run `scripts/backup.sh --help` for what it holds and what it never holds.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/backup.sh [--database-url URL] [--files DIR] DEST_DIR

Writes a backup of the partner portal into DEST_DIR (a new or empty directory, mode 700):

  database.dump  pg_dump --format=custom of the portal's PostgreSQL database
  files.tar      the document store ([attachments] storage_directory); its files are
                 already encrypted, each under its own data key
  manifest.txt   when it was taken, the schema's Alembic revision, pg_dump's version and
                 the SHA-256 of each part (written last: no manifest, no finished backup).
                 The digests catch accidental damage; they are not signed, so keep backups
                 where only the backup service can write

The portal may keep running: the documents are archived before the dump, and those added
meanwhile after it, so every document row in the dump has its file. One case is left: a
draft document uploaded during the first pass and removed during the dump has a row and no
file; `portal backup verify` then names it, and the next backup is whole.

  --database-url URL  the database (default: $PORTAL_DATABASE__URL). A SQLAlchemy URL
                      (postgresql+psycopg://...) or a libpq one (postgresql://...). Keep the
                      password out of it (it would show in the process list): use ~/.pgpass,
                      PGPASSFILE or PGPASSWORD.
  --files DIR         the document store (default: $PORTAL_ATTACHMENTS__STORAGE_DIRECTORY)

NEVER IN A BACKUP: the keyring (key-encryption keys), the session secret key and the audit
checkpoint signing key. Back those up separately, to a different place with different
people able to reach it (for example a sealed offline copy or the council's secrets vault).
Everything sensitive in the database and every document is encrypted under keys that only
the keyring can unwrap: a database backup stored together with its keyring would give
whoever finds it everything in clear, defeating the encryption.

pg_dump must be the PostgreSQL server's major version (it refuses a newer server). Restore
with scripts/restore.sh, then check the copy with `portal backup verify`.
EOF
}

fail() {
  echo "backup: $*" >&2
  exit 1
}

database_url="${PORTAL_DATABASE__URL:-}"
files_dir="${PORTAL_ATTACHMENTS__STORAGE_DIRECTORY:-}"
destination=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --database-url) [[ $# -ge 2 ]] || fail "--database-url needs a URL"; database_url="$2"; shift 2 ;;
    --files) [[ $# -ge 2 ]] || fail "--files needs a directory"; files_dir="$2"; shift 2 ;;
    -*) fail "unknown option $1 (see --help)" ;;
    *) [[ -z "$destination" ]] || fail "one DEST_DIR only (see --help)"; destination="$1"; shift ;;
  esac
done
[[ -n "$destination" ]] || { usage >&2; exit 2; }
[[ -n "$database_url" ]] || fail "no database: pass --database-url or set PORTAL_DATABASE__URL"
[[ -n "$files_dir" ]] || fail "no document store: pass --files or set PORTAL_ATTACHMENTS__STORAGE_DIRECTORY"
[[ -d "$files_dir" ]] || fail "the document store $files_dir is not a directory"

# libpq (pg_dump) knows postgresql://, not SQLAlchemy's postgresql+psycopg://.
libpq_url="$(sed -E 's#^postgres(ql)?(\+[A-Za-z0-9_]+)?://#postgresql://#' <<<"$database_url")"
[[ "$libpq_url" == postgresql://* ]] || fail "the database URL must be a PostgreSQL one"

umask 077
if [[ -e "$destination" ]]; then
  [[ -d "$destination" && -z "$(ls -A "$destination")" ]] ||
    fail "$destination already exists and is not an empty directory: choose a new one"
else
  mkdir -p "$destination"
fi
chmod 700 "$destination"

# The document store twice, around the dump. A stored file is written before its row is
# committed, never changed, and deleted only after its row's removal (or its key's shredding)
# is committed. So the first pass holds the files of every row the dump may hold that are
# removed before the second pass, and the second adds the files stored since the first.
# GNU tar exits 1 when a file is added or removed while it reads the directory: expected here.
# Files still being received (*.partial) belong to no row yet and are left out.
archive() {
  local status=0
  tar --file="$destination/files.tar" --directory="$files_dir" --exclude='*.partial' \
    --numeric-owner --warning=no-file-changed --warning=no-file-removed "$@" . || status=$?
  [[ $status -le 1 ]] || fail "tar could not archive the document store $files_dir (above)"
}

echo "==> Archiving the document store $files_dir"
archive --create

echo "==> Dumping the database"
pg_dump --format=custom --file="$destination/database.dump" --dbname="$libpq_url"
# The revision as the dump has it (not a second query that a migration could overtake).
revision="$(pg_restore --data-only --table=alembic_version --file=- "$destination/database.dump" |
  sed -n '/^COPY /{n;p}')"
[[ "$revision" =~ ^[0-9A-Za-z_]+$ ]] || fail "the dump holds no Alembic revision: is it the portal's database?"

echo "==> Adding the documents stored during the dump"
archived="$destination/archived.tmp"
tar --list --file="$destination/files.tar" | sed -n 's#^\./\([^/]*\.pdsf\)$#\1#p' >"$archived"
archive --append --exclude-from="$archived"
rm "$archived"

echo "==> Writing the manifest"
{
  echo "portal-backup-format: 1"
  echo "created-at: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "alembic-revision: $revision"
  echo "pg-dump-version: $(pg_dump --version)"
  echo "not-included: keyring, secret key, audit signing key (backed up separately)"
  (cd "$destination" && sha256sum database.dump files.tar)
} >"$destination/manifest.txt.tmp"
mv "$destination/manifest.txt.tmp" "$destination/manifest.txt"
echo "Backup written to $destination (schema revision $revision). The keys are not in it."
