#!/usr/bin/env bash
# Install ClamAV's clamd (Debian's clamav-daemon) when it is missing. The tests run their own
# clamd with a test-only signature database; nothing here downloads signatures.
set -euo pipefail
if command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "clamd is missing and cannot be installed without root: run" \
    "'apt-get install clamav-daemon' as root (its tests are skipped until then, and fail in CI)." >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
echo "Installing ClamAV's clamd (Debian package clamav-daemon) for the attachment tests"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends clamav-daemon
