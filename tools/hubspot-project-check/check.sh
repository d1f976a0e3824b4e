#!/usr/bin/env bash
# Checks a HubSpot project with HubSpot's own parser (validate-hsproject.mjs), then proves the check
# bites: a copy with one misspelled key and one unknown subscription type must be refused.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
project="$(cd "${1:?usage: check.sh PROJECT_DIR}" && pwd)"
cd "$here"
[ -d node_modules/@hubspot/project-parsing-lib ] || npm ci --no-audit --no-fund --loglevel=error
node validate-hsproject.mjs "$project"
broken="$(mktemp -d)"
trap 'rm -rf "$broken"' EXIT
cp -r "$project/." "$broken/"
sed -i 's/"distribution"/"distrubution"/' "$broken/src/app/app-hsmeta.json"
sed -i '0,/"object.creation"/s//"object.update"/' "$broken/src/app/webhooks/webhooks-hsmeta.json"
if output="$(node validate-hsproject.mjs "$broken" 2>&1)"; then
  echo "hubspot-project-check: a broken project passed; the check does not bite" >&2
  exit 1
fi
for expected in distrubution "crmObjects.0.subscriptionType"; do
  grep -q "$expected" <<<"$output" || { echo "hubspot-project-check: '$expected' not reported:" >&2; echo "$output" >&2; exit 1; }
done
echo "hubspot-project-check: a broken copy is refused (misspelled key, unknown subscription type)"
