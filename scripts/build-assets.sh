#!/usr/bin/env bash
# Build the GOV.UK Frontend assets into portal/static/govuk (git-ignored), served at /assets.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
src=node_modules/govuk-frontend/dist/govuk
out=portal/static/govuk
rm -rf "$out"
mkdir -p "$out"
cp -R "$src/assets/." "$out/"
cp "$src/govuk-frontend.min.css" "$src/govuk-frontend.min.js" "$out/"
cp portal/assets/portal.css "$out/"
cp portal/assets/session-timeout.mjs "$out/"
echo "GOV.UK Frontend $(node -p "require('./node_modules/govuk-frontend/package.json').version") built into $out"
