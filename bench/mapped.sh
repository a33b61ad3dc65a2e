#!/usr/bin/env bash
# End to end through the mapping files (issue 4 "Benchmark"): messages a second mapped, stored and
# readable, for ORU^R01 with ten OBX each (one DiagnosticReport, ten Observations) and for ADT, on
# a store preloaded with PATIENTS patients. Each run sends its messages with the reference client
# ../shared/tools/mllpload.c (CONNECTIONS x WINDOW) as fast as ACKs allow and times from the first
# message sent until the mapping backlog is 0; then one of the results is read back over FHIR.
# Targets (2 cores): ORU >= 1,500 msg/s (about 17,000 resources/s); ADT >= the foundation's
# end-to-end figure. Prints figures; not a pass/fail test. Short run:
#   PATIENTS=20000 ORU_MESSAGES=20000 ADT_MESSAGES=40000 bench/mapped.sh
#
# Environment (defaults in brackets): PATIENTS [100000] PATIENT_SEED [7] ORU_MESSAGES [100000]
#   ADT_MESSAGES [200000] CONNECTIONS [4] WINDOW [32] REPEAT [1] SEED [clock] SKIP_BUILD KEEP_DATA
#   BUILD_DIR WORK_PARENT
source "$(dirname "$0")/lib.sh"

PATIENTS=${PATIENTS:-100000}
PATIENT_SEED=${PATIENT_SEED:-7}
ORU_MESSAGES=${ORU_MESSAGES:-100000}
ADT_MESSAGES=${ADT_MESSAGES:-200000}
CONNECTIONS=${CONNECTIONS:-4}
WINDOW=${WINDOW:-32}
REPEAT=${REPEAT:-1}

bench_build
bench_init
DATA=$WORK/data

log "writing $PATIENTS preload A28s, $REPEAT x $ORU_MESSAGES ORU^R01 and $REPEAT x $ADT_MESSAGES ADT (seed $BASE_SEED...)"
demo "$WORK/preload.txt" --preload --patients "$PATIENTS" --patient-seed "$PATIENT_SEED" --seed "$BASE_SEED"
for ((r = 1; r <= REPEAT; r++)); do
  demo "$WORK/oru.$r.txt" --oru --messages "$ORU_MESSAGES" --patients "$PATIENTS" --patient-seed "$PATIENT_SEED" \
    --seed $((BASE_SEED + 10 * r))
  demo "$WORK/adt.$r.txt" --messages "$ADT_MESSAGES" --patients "$PATIENTS" --patient-seed "$PATIENT_SEED" \
    --seed $((BASE_SEED + 10 * r + 1))
done

start_engine "$DATA"
t0=$(now_ms)
read -r _ aa ae ar _ _ _ _ <<<"$(mllpload_run "$WORK/preload.txt" "$CONNECTIONS" "$WINDOW")"
drain=$(wait_backlog_zero 3600)
log "preload: $PATIENTS patients mapped in $(($(now_ms) - t0)) ms (aa $aa ae $ae ar $ar)"

# run KIND FILE MESSAGES: one timed run; prints "KIND messages ack_msg_s mapped_msg_s ack_p99_ms".
run() {
  local kind=$1 file=$2 n=$3 t0 line sent aa ae ar secs rate p50 p99 drain total
  t0=$(now_ms)
  line=$(mllpload_run "$file" "$CONNECTIONS" "$WINDOW")
  read -r sent aa ae ar secs rate p50 p99 <<<"$line"
  drain=$(wait_backlog_zero 3600)
  total=$(($(now_ms) - t0))
  ((drain >= 0)) || die "$kind run did not drain"
  log "$kind: $sent sent (aa $aa ae $ae ar $ar), ACKed at $rate msg/s (p50 $p50 ms, p99 $p99 ms); mapped and stored in $total ms"
  awk -v k="$kind" -v n="$sent" -v r="$rate" -v t="$total" -v p="$p99" \
    'BEGIN { printf "%s %d %.0f %.0f %s\n", k, n, r, n * 1000 / t, p }'
}

results=()
for ((r = 1; r <= REPEAT; r++)); do
  results+=("$(run oru "$WORK/oru.$r.txt" "$ORU_MESSAGES")")
  results+=("$(run adt "$WORK/adt.$r.txt" "$ADT_MESSAGES")")
done

# Readable: a laboratory result of a demo patient over FHIR.
TOKEN=$(bench_token "$DATA")
pid=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/fhir/Patient?identifier=M1000001" |
  sed -n 's/.*"resource":{"resourceType":"Patient","id":"\([0-9a-f]*\)".*/\1/p')
obs=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/fhir/Observation?patient=Patient/$pid&_count=1" |
  sed -n 's/.*"total":\([0-9]*\).*/\1/p')
log "readable: Patient M1000001 ($pid) has ${obs:-0} Observation(s) over FHIR"
stop_engine

echo
echo "Connecting Care end to end through mapping files ($(date -u +%Y-%m-%dT%H:%MZ), built from $BUILT_FROM)"
echo "machine: $(nproc) cores, load before: $(loadavg); store preloaded with $PATIENTS patients"
printf '%-4s %9s %12s %14s %14s %12s\n' kind messages "ACK msg/s" "mapped msg/s" "resources/s" "ACK p99 ms"
for line in "${results[@]}"; do
  read -r kind n ack mapped p99 <<<"$line"
  per=$([[ $kind == oru ]] && echo 11 || echo 2)
  printf '%-4s %9d %12d %14d %14d %12s\n' "$kind" "$n" "$ack" "$mapped" $((mapped * per)) "$p99"
done
echo "(resources/s counts 11 per ORU: a DiagnosticReport and ten Observations; 2 per ADT: Patient and Encounter)"
