#!/usr/bin/env bash
# Run the demo: embedded SQLite, fictional data, every role signing in through real OIDC
# against a development OpenID provider on loopback.
# Called by `make demo`, which has already installed dependencies and built the assets.
set -euo pipefail
cd "$(dirname "$0")/.."
export PORTAL_ENV=demo
OIDC_CONFIG=instance/demo/oidc/providers.json
OIDC_LOG=instance/demo/oidc/provider.log
CMS_LOG=instance/demo/cms.log

SETUP_LOG=instance/demo/setup.log
TSA_LOG=instance/demo/tsa.log
mkdir -p instance/demo
# wait_until_ready NAME PID LOG PATTERN: until LOG has a line starting PATTERN, or stop the
# demo with the log's tail if the process ends or 20 seconds pass.
wait_until_ready() {
  for _ in $(seq 1 100); do
    if grep -q "^$4" "$3"; then return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "The $1 stopped:" >&2
      tail -n 20 "$3" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "The $1 did not start in time." >&2
  exit 1
}
# The audit log's witnesses (config/demo.toml): a directory for its checkpoints (made by
# `portal demo prepare`), and a real RFC 3161 time-stamping authority on loopback, which makes
# its certificates on first start.
echo "==> Starting the loopback time-stamping authority (log: $TSA_LOG)"
python -m loopback.tsa --directory instance/demo/tsa --port 8318 >"$TSA_LOG" 2>&1 &
TSA_PID=$!
trap 'kill "$TSA_PID" 2>/dev/null || true' EXIT INT TERM
wait_until_ready "loopback time-stamping authority" "$TSA_PID" "$TSA_LOG" ready

echo "==> Preparing the demo: keys, database, fictional data (log: $SETUP_LOG)"
{
  portal demo prepare
  portal db upgrade
  portal keys register
  portal demo seed
  portal demo requests
  portal demo oidc-config --output "$OIDC_CONFIG"
  portal audit checkpoint
} >"$SETUP_LOG"

echo "==> Starting the development OpenID provider (log: $OIDC_LOG)"
node infra/dev-oidc/server.mjs "$OIDC_CONFIG" >"$OIDC_LOG" 2>&1 &
OIDC_PID=$!
# The audit sequencer: places each recorded event in the log's Merkle tree within a second,
# signs a checkpoint every minute (or 1,000 events) and hands it to the witnesses.
portal audit sequencer >instance/demo/sequencer.log 2>&1 &
SEQUENCER_PID=$!
# E-mail: a development SMTP server that keeps each message in instance/demo/mail/, and the
# background sender that delivers queued notifications to it.
portal notifications smtp-sink --port 8025 >instance/demo/smtp-sink.log 2>&1 &
SINK_PID=$!
portal notifications send --every 10 >instance/demo/notifications.log 2>&1 &
SENDER_PID=$!
# Close requests past their closing date (and destroy their drafts) every few minutes.
portal requests expire --every 300 >instance/demo/expiry.log 2>&1 &
EXPIRY_PID=$!
# The reference CMS (its own process and storage, instance/demo/cms) stands in for the
# council's case management system; the delivery worker carries accepted contributions to it
# and serves its metrics on 127.0.0.1:9300.
echo "==> Starting the reference CMS (log: $CMS_LOG) and the delivery worker"
python -m reference_cms --port 8300 --data-dir instance/demo/cms --client-id portal-demo \
  --client-secret-file instance/demo/secrets/cms-client-secret >"$CMS_LOG" 2>&1 &
CMS_PID=$!
portal worker --metrics-port 9300 >instance/demo/worker.log 2>&1 &
WORKER_PID=$!
# The disarm worker makes each uploaded document's safe copy, in a sandboxed converter.
portal disarm >instance/demo/disarm.log 2>&1 &
DISARM_PID=$!
trap 'kill "$TSA_PID" "$OIDC_PID" "$SEQUENCER_PID" "$SINK_PID" "$SENDER_PID" "$EXPIRY_PID" "$CMS_PID" "$WORKER_PID" "$DISARM_PID" 2>/dev/null || true' EXIT INT TERM
wait_until_ready "reference CMS" "$CMS_PID" "$CMS_LOG" ready
wait_until_ready "development OpenID provider" "$OIDC_PID" "$OIDC_LOG" all-ready

cat <<MSG

The portal is starting on http://127.0.0.1:5000: choose "Sign in" and type an address
below (each organisation's development sign-in page lets you pick the person).

$(portal demo guide)

To onboard Juniper Hill Primary School from scratch: the partner engagement officer adds it
at /organisations; the portal admin registers its provider at /admin/identity-providers/new with
$(portal demo to-register)
the IG officer approves it at /approvals; Grace Whitfield signs in and waits; the officer
proposes her as partner lead, the IG officer approves, and the school can go live.

E-mails (a reference and a link only): instance/demo/mail/. Deliveries to the reference CMS
(http://127.0.0.1:8300): instance/demo/worker.log. Everything is fictional.
Stop with Ctrl+C; start from scratch with  rm -rf instance/demo && make demo

MSG
# Not exec: the trap must stop the OpenID provider when gunicorn ends.
gunicorn -c infra/gunicorn.conf.py
