#!/usr/bin/env bash
# Install Debian's Chromium when it is missing: the browser tests drive /usr/bin/chromium through
# Playwright (no browser download).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "Chromium is missing and cannot be installed without root: run" \
    "'apt-get install chromium' as root (the browser tests are skipped until then, and fail in CI)." >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
echo "Installing Chromium (Debian package chromium) for the browser tests"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends chromium
