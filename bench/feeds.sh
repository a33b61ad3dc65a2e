#!/usr/bin/env bash
# Extract and GP feeds end to end (issue 5 "Benchmark"): rows a second and resources a second,
# durable and readable, measured from the first byte sent until the mapping backlog is 0.
#   extract: one CSV of EXTRACT_ROWS social care rows uploaded to POST /ingest/{feed}
#            (target 10,000 rows/s)
#   GP:      every Synthea bundle of ../shared/corpus/synthea, each given a test NHS number, pushed
#            as a transaction to POST /fhir, REPEAT times with fresh identifiers (target 10,000
#            resources/s), by GP_CLIENTS pushers side by side
# Prints figures; not a pass/fail test. Needs python3 (to give the Synthea patients NHS numbers).
# Environment (defaults in brackets): EXTRACT_ROWS [200000] REPEAT [3] GP_CLIENTS [4]
# EXTRACT_CHUNK_ROWS [50000: the engine's limits.extract_chunk_rows] SKIP_BUILD BUILD_DIR KEEP_DATA
source "$(dirname "$0")/lib.sh"

EXTRACT_ROWS=${EXTRACT_ROWS:-200000}
REPEAT=${REPEAT:-3}
GP_CLIENTS=${GP_CLIENTS:-4}
EXTRACT_CHUNK_ROWS=${EXTRACT_CHUNK_ROWS:-50000}
SYNTHEA=${SYNTHEA:-$ROOT/../shared/corpus/synthea}
command -v python3 >/dev/null || die "python3 is needed to prepare the GP bundles"

bench_build
bench_init
DATA=$WORK/data
cat >"$WORK/config.json" <<JSON
{"development": true, "limits": {"http_max_body_bytes": 536870912, "requests_per_minute_per_user": 0,
            "extract_chunk_rows": $EXTRACT_CHUNK_ROWS},
 "feeds": [{"name": "sc", "type": "extract", "owner_ods": "BENCH", "mapping": "social-care-episodes"},
           {"name": "gp", "type": "gp-fhir", "owner_ods": "BENCH"}]}
JSON
ENGINE_ARGS="--config $WORK/config.json"

log "writing $EXTRACT_ROWS extract rows and $REPEAT x the Synthea bundles"
python3 - "$WORK" "$EXTRACT_ROWS" "$SYNTHEA" "$REPEAT" <<'PY'
import json, os, sys, glob
work, rows, synthea, repeat = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def nhs(n):
    stem = "999%06d" % (n % 1000000)
    while True:
        s = sum(int(stem[i]) * (10 - i) for i in range(9)); c = 11 - s % 11
        c = 0 if c == 11 else c
        if c != 10: return stem + str(c)
        n += 1; stem = "999%06d" % (n % 1000000)
with open(os.path.join(work, "extract.csv"), "w", newline="") as f:
    f.write("person_id,nhs_number,family_name,given_name,birth_date,episode_id,service,status,start_date,end_date,lead_worker,team,safeguarding,last_updated\r\n")
    for i in range(rows):
        f.write("P%07d,%s,SURNAME%d,Given,%02d/%02d/19%02d,EP-%d,Home care,Open,01/02/2024,,Worker %d,Team %d,%s,15/03/2024 09:30\r\n"
                % (i, nhs(i * 7 + 3) if i % 10 else "", i % 997, 1 + i % 28, 1 + i % 12, 30 + i % 60, i, i % 50, i % 9, "Y" if i % 17 == 0 else "N"))
files = sorted(glob.glob(os.path.join(synthea, "*.json")))
n = 0
for r in range(repeat):
    for path in files:
        b = json.load(open(path))
        n += 1
        for e in b.get("entry", []):
            res = e.get("resource", {})
            if res.get("resourceType") == "Patient":
                res.setdefault("identifier", []).append({"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs(500000 + n)})
            # fresh identifiers a repeat, so each push is new data
            for ident in res.get("identifier", []):
                if ident.get("system") != "https://fhir.nhs.uk/Id/nhs-number" and "value" in ident:
                    ident["value"] = "%s-r%d" % (ident["value"], r)
        json.dump(b, open(os.path.join(work, "gp.%04d.json" % n), "w"))
PY
[[ -n $(ls "$WORK"/gp.*.json 2>/dev/null) ]] || log "no Synthea bundles at $SYNTHEA: the GP part is skipped"

start_engine "$DATA"
TOKEN=$("$CARERECORD" token --role feed-system --user bench --org BENCH --data-dir "$DATA")

t0=$(now_ms)
code=$(curl -s -o "$WORK/extract.report.json" -w '%{http_code}' -X POST --data-binary @"$WORK/extract.csv" \
  -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/ingest/sc")
t_ack=$(($(now_ms) - t0))
[[ $code == 200 ]] || die "extract upload answered $code: $(head -c 300 "$WORK/extract.report.json")"
wait_backlog_zero 3600 >/dev/null
t_all=$(($(now_ms) - t0))
extract_line=$(awk -v n="$EXTRACT_ROWS" -v a="$t_ack" -v t="$t_all" 'BEGIN { printf "extract  %8d rows       stored+reported in %6d ms (%6.0f rows/s)   mapped and readable in %6d ms (%6.0f rows/s)", n, a, n*1000/a, t, n*1000/t }')
log "$extract_line"

gp_line="GP: skipped (no Synthea bundles)"
if ls "$WORK"/gp.*.json >/dev/null 2>&1; then
  # The GP pushes are timed on a settled record: the extract's rows stay, its checkpoint has ended.
  log "engine idle $(wait_engine_idle) ms after the extract"
  t0=$(now_ms)
  # GP_CLIENTS pushers side by side (practices' extract services push independently), each one
  # bundle at a time, waiting for its answer: one curl process (--parallel, connections kept
  # alive) rather than a process a push, whose start-up would take the engine's CPU.
  sep=""
  for f in "$WORK"/gp.*.json; do
    printf '%s' "$sep"
    sep=$'next\n'
    printf 'url = "http://127.0.0.1:%s/fhir"\ndata-binary = "@%s"\noutput = "%s.response"\n' "$HTTP_PORT" "$f" "$f"
    printf 'header = "Authorization: Bearer %s"\nheader = "Content-Type: application/fhir+json"\n' "$TOKEN"
    printf 'write-out = "%%{http_code} %s\\n"\nsilent\n' "$f"
  done >"$WORK/gp.curl"
  curl -s -Z --parallel-max "$GP_CLIENTS" -K "$WORK/gp.curl" >"$WORK/gp.codes" || true  # each push checked below
  t_ack=$(($(now_ms) - t0))
  [[ $(wc -l <"$WORK/gp.codes") -eq $(ls "$WORK"/gp.*.json | wc -l) ]] || die "not every GP push was answered"
  while read -r code f; do
    [[ $code == 200 ]] || die "GP push $f answered $code: $(head -c 300 "$f.response")"
  done <"$WORK/gp.codes"
  wait_backlog_zero 3600 >/dev/null
  t_all=$(($(now_ms) - t0))
  # Resources stored: entries answered with a location (ignored types get none).
  accepted=$(python3 -c 'import json,glob,sys; print(sum(1 for f in glob.glob(sys.argv[1] + "/gp.*.response") for e in json.load(open(f)).get("entry", []) if e.get("response", {}).get("location")))' "$WORK")
  gp_line=$(awk -v n="$accepted" -v a="$t_ack" -v t="$t_all" 'BEGIN { printf "GP       %8d resources  stored+answered in %6d ms (%6.0f res/s)    mapped and readable in %6d ms (%6.0f res/s)", n, a, n*1000/a, t, n*1000/t }')
  log "$gp_line"
fi
peak_rss=$(awk '/^VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$ENGINE_PID/status")
stop_engine

echo
echo "Connecting Care extract and GP feeds ($(date -u +%Y-%m-%dT%H:%MZ), built from $BUILT_FROM; $(nproc) cores, load before: $(loadavg))"
echo "$extract_line"
echo "$gp_line"
echo "engine peak memory (VmHWM): $peak_rss"
