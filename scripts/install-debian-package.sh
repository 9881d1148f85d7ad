#!/usr/bin/env bash
# Install a Debian package the tests need when its program (or another file it installs, such
# as a library) is missing:
#   install-debian-package.sh PACKAGE PATH WHAT-IT-IS-FOR
# e.g. chromium /usr/bin/chromium "the browser tests". Without root (or password-less sudo)
# it says how to install it; the tests that need it are then skipped, except in CI, where
# this fails.
set -euo pipefail
package=$1
program=$2
purpose=$3
if [ -e "$program" ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "$program is missing and cannot be installed without root: run" \
    "'apt-get install $package' as root ($purpose are skipped until then, and fail in CI)." >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
echo "Installing Debian's $package for $purpose"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "$package"
