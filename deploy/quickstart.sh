#!/usr/bin/env bash
# Installs what is missing, builds, starts the engine on embedded SQLite in development mode, and
# streams a synthetic hospital ADT feed into it. Ctrl-C stops the engine (gracefully).
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
./deploy/build.sh
bin=build/engine/app/carerecord
data=${CARERECORD_DATA:-./data-demo}
mllp_port=${MLLP_PORT:-2575}
http_port=${HTTP_PORT:-8080}
mkdir -p "$data"
out=$(mktemp)
"$bin" serve --dev --data-dir "$data" --mllp-port "$mllp_port" --http-port "$http_port" >"$out" &
engine=$!
trap 'kill -TERM $engine 2>/dev/null; wait $engine 2>/dev/null; rm -f "$out"' EXIT INT TERM
for _ in $(seq 1 100); do grep -q '^http listening' "$out" && break; sleep 0.1; done
cat "$out"
grep -q '^http listening' "$out" || { echo "the engine did not start" >&2; exit 1; }
token=$("$bin" token --role ae-clinician --user demo.clinician --org RBT --data-dir "$data")
admin=$("$bin" token --role integration-admin --user demo.admin --org RBT --data-dir "$data")
"$bin" demo-feed --mllp-port "$mllp_port" --patients 300 --messages 2000 --window 4 --rate 400 --seed "$(date +%s)" &
cat <<EOT

Connecting Care is running (development mode, data in $data).
  MLLP feed:   127.0.0.1:$mllp_port   (a demo PAS is streaming ADT messages into it now)
  FHIR API:    http://127.0.0.1:$http_port/fhir/metadata
  Health:      http://127.0.0.1:$http_port/healthz     Metrics: http://127.0.0.1:$http_port/metrics

Try (tokens for an A&E clinician and an integration administrator):
  token=$token
  admin=$admin
  curl -s -H "Authorization: Bearer \$token" 'http://127.0.0.1:$http_port/fhir/Patient?identifier=M1000001'
  curl -s -H "Authorization: Bearer \$token" 'http://127.0.0.1:$http_port/fhir/Encounter?patient=Patient/<id from above>'
  curl -s -H "Authorization: Bearer \$admin" 'http://127.0.0.1:$http_port/admin/worklist'
  $bin worklist --data-dir $data          # patients without a (valid) NHS number
  $bin audit list --data-dir $data        # who read what

Ctrl-C stops the engine.
EOT
wait $engine
