#!/usr/bin/env bash
# Run the demo: embedded SQLite, fictional data, every role able to sign in.
# Called by `make demo`, which has already installed dependencies and built the assets.
set -euo pipefail
cd "$(dirname "$0")/.."
export PORTAL_ENV=demo

echo "==> Preparing the demo's secret key and keyring (instance/demo, git-ignored)"
portal demo prepare
echo "==> Migrating the demo database"
portal db upgrade
echo "==> Registering the keyring with the database"
portal keys register
echo "==> Adding the fictional demo data"
portal demo seed

cat <<MSG

The portal is starting on http://127.0.0.1:5000

Sign in: open http://127.0.0.1:5000, choose "Sign in" and pick one of these people
(the demo's role picker; the real service signs people in through their own organisation):
$(portal demo people)

Everything is fictional. Stop the demo with Ctrl+C. Start again from scratch with
  rm -rf instance/demo && make demo

MSG
exec gunicorn -c infra/gunicorn.conf.py
