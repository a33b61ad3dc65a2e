#!/usr/bin/env bash
# End to end (mapped, stored, readable over the FHIR API), issue 2 "Benchmark":
#   1. preload: a fresh store gets one A28 (add person) for each of PATIENTS patients (750,000: Cheshire's
#      size) over MLLP; preload time = first message sent until the mapping backlog is 0.
#   2. sustained: RATE messages a second (5,000) for DURATION seconds (600) of demo ADT for the same patients,
#      paced by bench/mllprate.c, while every SAMPLE_EVERY seconds (10) we sample: the mapping backlog, the
#      mapped rate, how long after its ACK the last-ACKed message is readable (polling GET /fhir/Patient/{id}),
#      a search GET /fhir/Patient?identifier=MRN for that patient (every SEARCH_EVERY-th sample: it is slow,
#      see bench/README.md) and READS_PER_SAMPLE reads by id of random patients. IDLE_SEARCHES identifier
#      searches are also timed with nothing else running, after the preload and after the sustained run.
#   3. drain: the record builder is held off (a write lock on record.db, taken from outside with the sqlite3
#      shell) while DRAIN_MESSAGES (1,000,000) fresh messages are ACKed into the same store's inbox; then
#        replay: the engine is stopped, the lock released and the engine restarted: it maps the whole backlog
#                before listening and logs "replayed N inbox messages into the record in X ms";
#        live:   the lock is released under the running engine and we time carerecord_mapping_backlog to 0.
# Prints figures; not a pass/fail test. Short run (a couple of minutes):
#   PATIENTS=20000 DURATION=30 RATE=2000 DRAIN_MESSAGES=50000 bench/end_to_end.sh
#
# Environment (defaults in brackets): PATIENTS [750000] PATIENT_SEED [7] RATE [5000] DURATION [600]
#   SAMPLE_EVERY [10] CONNECTIONS [4] WINDOW [32] (paced sender) READS_PER_SAMPLE [20] VISIBLE_TIMEOUT [30]
#   SEARCH_EVERY [6] (an identifier search in every 6th sample; 0: none) IDLE_SEARCHES [5] READ_TIMEOUT [120]
#   DRAIN_MESSAGES [1000000] DRAIN_MODES ["replay live"] SEED [clock] SKIP_BUILD KEEP_DATA BUILD_DIR WORK_PARENT
source "$(dirname "$0")/lib.sh"

PATIENTS=${PATIENTS:-750000}
PATIENT_SEED=${PATIENT_SEED:-7}
RATE=${RATE:-5000}
DURATION=${DURATION:-600}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
CONNECTIONS=${CONNECTIONS:-4}
WINDOW=${WINDOW:-32}
READS_PER_SAMPLE=${READS_PER_SAMPLE:-20}
VISIBLE_TIMEOUT=${VISIBLE_TIMEOUT:-30}
DRAIN_MESSAGES=${DRAIN_MESSAGES:-1000000}
DRAIN_MODES=${DRAIN_MODES:-replay live}
SEARCH_EVERY=${SEARCH_EVERY:-6}
IDLE_SEARCHES=${IDLE_SEARCHES:-5}
READ_TIMEOUT=${READ_TIMEOUT:-120}
ID_SYSTEM=${ID_SYSTEM:-urn:connecting-care:id:dev-adt:RBT}
command -v sqlite3 >/dev/null || die "the sqlite3 shell is needed for the drain phase (apt-get install sqlite3)"

bench_build
bench_init
DATA=$WORK/data
SUSTAINED=$((RATE * DURATION))
SUS_SEED=$((BASE_SEED + 1))

t=$(now_ms)
log "writing demo messages: $PATIENTS A28s, $SUSTAINED sustained, $DRAIN_MESSAGES per drain mode (seed $BASE_SEED...)"
demo "$WORK/preload.txt" --preload --patients "$PATIENTS" --patient-seed "$PATIENT_SEED" --seed "$BASE_SEED"
demo "$WORK/sustained.txt" --messages "$SUSTAINED" --patients "$PATIENTS" --patient-seed "$PATIENT_SEED" --seed "$SUS_SEED"
k=2
for mode in $DRAIN_MODES; do
  demo "$WORK/drain.$mode.txt" --messages "$DRAIN_MESSAGES" --patients "$PATIENTS" --patient-seed "$PATIENT_SEED" \
    --seed $((BASE_SEED + k))
  k=$((k + 1))
done
log "written in $(($(now_ms) - t)) ms"

# ---------------------------------------------------------------------------------------------- preload
start_engine "$DATA"
TOKEN=$(bench_token "$DATA")
AUTH="Authorization: Bearer $TOKEN"
LOAD_START=$(loadavg)
log "1. preload: $PATIENTS A28 messages, 4 connections x 32 in flight"
t0=$(now_ms)
pre=$(mllpload_run "$WORK/preload.txt" 4 32)
t_acked=$(now_ms)
log "   mllpload: $pre; backlog $(metric carerecord_mapping_backlog)"
ms=$(wait_backlog_zero 7200)
t_mapped=$(now_ms)
read -r pre_sent pre_aa pre_ae pre_ar pre_secs pre_rate pre_p50 pre_p99 <<<"$pre"
PRELOAD_MAPPED=$(metric carerecord_messages_mapped_total)
PRELOAD_ACK_MS=$((t_acked - t0))
PRELOAD_MS=$((t_mapped - t0))
log "   all ACKed after $((t_acked - t0)) ms, all mapped after $((t_mapped - t0)) ms; mapped_total $PRELOAD_MAPPED"
check=$(curl -s -H "$AUTH" "http://127.0.0.1:$HTTP_PORT/fhir/Patient?identifier=M$((1000000 + PATIENTS - 1))")
grep -q '"total":1' <<<"$check" || log "WARNING: the last preloaded patient is not readable: ${check:0:300}"
LOAD_PRELOAD=$(loadavg)

# -------------------------------------------------------------------------------------------- sustained
# read_url PATH: prints "latency_ms control_id http_code patient_id" (control id from meta.source, id of
# the first Patient in the answer).
read_url() {
  curl -s --max-time "$READ_TIMEOUT" -H "$AUTH" -w '\n%{http_code} %{time_total}\n' "http://127.0.0.1:$HTTP_PORT/$1" |
    awk '/^[0-9][0-9][0-9] [0-9.]+$/ { code = $1; t = $2; next }
      {
        if (ctl == "" && match($0, /"source":"[^"]*"/)) { s = substr($0, RSTART, RLENGTH); sub(/.*#/, "", s); sub(/"$/, "", s); ctl = s }
        if (id == "" && match($0, /"resourceType":"Patient","id":"[^"]*"/)) {
          s = substr($0, RSTART, RLENGTH); sub(/.*"id":"/, "", s); sub(/"$/, "", s); id = s }
      }
      END { printf "%.2f %s %s %s\n", t * 1000, ctl == "" ? "-" : ctl, code == "" ? "000" : code, id == "" ? "-" : id }'
}
# newer_or_same A B: true if control id A (DEMO<seed>-<n>) is the same message as B or a later one.
newer_or_same() {
  local pa=${1%-*} pb=${2%-*}
  [[ $pa == "$pb" ]] && ((${1##*-} >= ${2##*-}))
}
# The id of the hospital's registration (its Patient), which the mapping derives from the local
# identifier (first 128 bits of SHA-256 of "Patient|system|value"). A search by identifier answers
# with the regional patient the registration is joined to (another id); the registration itself is
# read by its own id. Checked against the API below; reads by id are skipped if it is not there.
patient_id_of() { printf 'Patient|%s|%s' "$ID_SYSTEM" "$1" | sha256sum | cut -c1-32; }
read -r _ _ got_code _ <<<"$(read_url "fhir/Patient/$(patient_id_of M1000000)")"
BYID=1
if [[ $got_code != 200 ]]; then
  BYID=0
  log "WARNING: Patient/$(patient_id_of M1000000) (M1000000's registration) answered $got_code: reads by id skipped"
fi

# idle_searches FILE: IDLE_SEARCHES identifier searches of random patients with nothing else running.
idle_searches() {
  : >"$1"
  for ((i = 0; i < IDLE_SEARCHES; i++)); do
    read -r ms _ code _ <<<"$(read_url "fhir/Patient?identifier=M$((1000000 + (RANDOM * 32768 + RANDOM) % PATIENTS))")"
    [[ $code == 200 ]] || log "WARNING: idle search answered HTTP $code"
    echo "$ms" >>"$1"
  done
  log "   idle identifier searches (ms): $(tr '\n' ' ' <"$1")"
}
idle_searches "$WORK/search_idle_preload.txt"

log "2. sustained: $RATE msg/s for $DURATION s ($SUSTAINED messages, $CONNECTIONS connections x $WINDOW), sample every $SAMPLE_EVERY s"
STATUS=$WORK/rate.status
"$MLLPRATE" "$MLLP_PORT" "$WORK/sustained.txt" "$RATE" "$CONNECTIONS" "$WINDOW" "$STATUS" >"$WORK/rate.out" 2>"$WORK/rate.err" &
RATE_PID=$!
BG_PIDS+=("$RATE_PID")
for f in backlog mapped_rate search_recent byid_recent byid_random visible visible_timeout samples; do : >"$WORK/$f.txt"; done
start=$(now_ms)
prev_t=$start
prev_mapped=$(metric carerecord_messages_mapped_total)
next=$((start + SAMPLE_EVERY * 1000))
printf '%7s %9s %9s %7s %9s %9s %12s %10s %10s %10s\n' "t s" "sent" "acked" "late ms" "backlog" "mapped/s" \
  "ack->read ms" "search ms" "by-id ms" "random p50" | tee -a "$WORK/samples.txt"
while kill -0 "$RATE_PID" 2>/dev/null; do
  while (($(now_ms) < next)) && kill -0 "$RATE_PID" 2>/dev/null; do sleep 0.2; done
  kill -0 "$RATE_PID" 2>/dev/null || break
  next=$((next + SAMPLE_EVERY * 1000))
  (($(now_ms) < next)) || next=$(($(now_ms) + SAMPLE_EVERY * 1000))  # a slow sample pushes the next one on
  engine_alive || die "engine died during the sustained run"
  nsample=$((${nsample:-0} + 1))
  m=$(curl -s --max-time 10 "http://127.0.0.1:$HTTP_PORT/metrics")
  backlog=$(awk '$1 == "carerecord_mapping_backlog" { printf "%.0f", $2 }' <<<"$m")
  mapped=$(awk '$1 == "carerecord_messages_mapped_total" { printf "%.0f", $2 }' <<<"$m")
  tnow=$(now_ms)
  mrate=$(((mapped - prev_mapped) * 1000 / (tnow - prev_t)))
  prev_t=$tnow prev_mapped=$mapped
  echo "$backlog" >>"$WORK/backlog.txt"
  echo "$mrate" >>"$WORK/mapped_rate.txt"
  read -r el sent acked aa ae ar late <"$STATUS" || true
  # The patient whose message was ACKed last: poll it by id until the read shows that message (ACK ->
  # readable), then find it by identifier as a clinician would (Patient?identifier=MRN).
  read -r idx ack_ms mrn ctl < <(tail -n +2 "$STATUS" | sort -k1,1nr | head -1) || true
  lag="-" search="-" byid="-"
  if [[ -n ${mrn:-} ]]; then
    if [[ $BYID == 1 ]]; then
      pid=$(patient_id_of "$mrn")
      deadline=$(($(now_ms) + VISIBLE_TIMEOUT * 1000))
      read -r byid vis code _ <<<"$(read_url "fhir/Patient/$pid")"
      echo "$byid" >>"$WORK/byid_recent.txt"
      polls=0
      while ! newer_or_same "$vis" "$ctl" && (($(now_ms) < deadline)); do
        # 20 ms between reads for the first half second, then 100 ms, then 500 ms after 5 s.
        polls=$((polls + 1))
        if ((polls < 25)); then sleep 0.02; elif ((polls < 70)); then sleep 0.1; else sleep 0.5; fi
        read -r _ vis code _ <<<"$(read_url "fhir/Patient/$pid")"
      done
      if newer_or_same "$vis" "$ctl"; then
        lag=$(($(now_ms) - ack_ms))
        echo "$lag" >>"$WORK/visible.txt"
      else
        lag=timeout
        echo "$ctl" >>"$WORK/visible_timeout.txt"
        log "WARNING: $ctl (patient $mrn) not readable ${VISIBLE_TIMEOUT} s after its ACK (read shows $vis, HTTP $code)"
      fi
    fi
    if ((SEARCH_EVERY > 0 && nsample % SEARCH_EVERY == 0)); then
      read -r search vis code _ <<<"$(read_url "fhir/Patient?identifier=$mrn")"
      [[ $code == 200 ]] || log "WARNING: search for $mrn answered HTTP $code"
      echo "$search" >>"$WORK/search_recent.txt"
    fi
  fi
  # Reads by id of random preloaded patients over one keep-alive connection.
  rnd_p50="-"
  if [[ $BYID == 1 ]] && ((READS_PER_SAMPLE > 0)); then
    args=()
    for ((i = 0; i < READS_PER_SAMPLE; i++)); do
      args+=(-o /dev/null "http://127.0.0.1:$HTTP_PORT/fhir/Patient/$(patient_id_of "M$((1000000 + (RANDOM * 32768 + RANDOM) % PATIENTS))")")
    done
    rnd=$(curl -s --max-time "$READ_TIMEOUT" -H "$AUTH" -w '%{time_total}\n' "${args[@]}" | awk '{ printf "%.2f\n", $1 * 1000 }')
    echo "$rnd" >>"$WORK/byid_random.txt"
    rnd_p50=$(sort -g <<<"$rnd" | awk '{ v[NR] = $1 } END { print v[int((NR - 1) / 2) + 1] }')
  fi
  printf '%7s %9s %9s %7s %9s %9s %12s %10s %10s %10s\n' "$(((tnow - start) / 1000))" "$sent" "$acked" "$late" \
    "$backlog" "$mrate" "$lag" "$search" "$byid" "$rnd_p50" | tee -a "$WORK/samples.txt"
done
wait "$RATE_PID" || die "mllprate failed: $(cat "$WORK/rate.err")"
sus=$(cat "$WORK/rate.out")
[[ -s $WORK/rate.err ]] && log "mllprate said: $(cat "$WORK/rate.err")"
zero_ms=$(wait_backlog_zero 3600)
zero_at=$(now_ms)
idle_searches "$WORK/search_idle_sustained.txt"
LOAD_SUSTAINED=$(loadavg)
read -r sus_sent sus_aa sus_ae sus_ar sus_secs sus_rate sus_p50 sus_p99 sus_maxlate <<<"$sus"
# From the last ACK (the sender's end) to a backlog of 0.
tail_ms=$(awk -v z="$zero_ms" -v now="$zero_at" -v s="$start" -v secs="$sus_secs" \
  'BEGIN { if (z < 0) print "(not drained)"; else { t = now - (s + secs * 1000); printf "%d ms", t < 0 ? 0 : t } }')

# ------------------------------------------------------------------------------------------------ drain
LOCK_PID=""
lock_record() {
  rm -f "$WORK/lock.fifo"
  mkfifo "$WORK/lock.fifo"
  sqlite3 "$DATA/record.db" <"$WORK/lock.fifo" >"$WORK/lock.out" 2>&1 &
  LOCK_PID=$!
  BG_PIDS+=("$LOCK_PID")
  exec 7>"$WORK/lock.fifo"
  printf '.timeout 60000\nBEGIN IMMEDIATE;\n' >&7
  for ((i = 0; i < 600; i++)); do
    sqlite3 -cmd ".timeout 0" "$DATA/record.db" "BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1 || return 0
    sleep 0.1
  done
  die "could not take the write lock on record.db"
}
unlock_record() {
  printf 'ROLLBACK;\n.quit\n' >&7
  exec 7>&-
  wait "$LOCK_PID" || true
  LOCK_PID=""
}

declare -A drain_ingest drain_ms drain_n
for mode in $DRAIN_MODES; do
  log "3. drain ($mode): record builder held off; $DRAIN_MESSAGES messages into the inbox"
  lock_record
  line=$(mllpload_run "$WORK/drain.$mode.txt" 4 32)
  backlog=$(metric carerecord_mapping_backlog)
  log "   mllpload: $line; backlog $backlog"
  drain_ingest[$mode]=$line
  drain_n[$mode]=$backlog
  if [[ $mode == replay ]]; then
    stop_engine
    unlock_record
    t0=$(now_ms)
    start_engine "$DATA"
    t_listen=$(($(now_ms) - t0))
    replay=$(grep -o 'replayed [0-9]* inbox messages into the record in [0-9]* ms' "$ENGINE_ERR" || true)
    [[ -n $replay ]] || die "the restarted engine did not log a replay"
    drain_n[$mode]=$(awk '{ print $2 }' <<<"$replay")
    drain_ms[$mode]=$(awk '{ print $(NF - 1) }' <<<"$replay")
    log "   $replay (listening again $t_listen ms after start); backlog now $(metric carerecord_mapping_backlog)"
  else
    unlock_record
    drain_ms[$mode]=$(wait_backlog_zero 7200)
    log "   backlog of ${drain_n[$mode]} drained in ${drain_ms[$mode]} ms"
  fi
done
LOAD_END=$(loadavg)
DISK=$(du -sh "$DATA" | cut -f1)
stop_engine

# ---------------------------------------------------------------------------------------------- report
echo
echo "Source: $BUILT_FROM; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "End-to-end benchmark ($(nproc) cores; load average at start $LOAD_START, after preload $LOAD_PRELOAD," \
  "after sustained $LOAD_SUSTAINED, at end $LOAD_END; data directory $DISK)"
echo
echo "1. Preload: $PATIENTS patients (one A28 each)"
echo "   ACKed:  $pre_sent sent, $pre_aa AA, $pre_ae AE, $pre_ar AR in $pre_secs s ($pre_rate msg/s, p50 $pre_p50 ms, p99 $pre_p99 ms)"
awk -v a="$PRELOAD_ACK_MS" -v m="$PRELOAD_MS" -v n="$PATIENTS" 'BEGIN {
  printf "   preload time (first message sent -> mapping backlog 0): %.1f s = %.0f patients/s (all ACKed after %.1f s)\n",
         m / 1000, n / (m / 1000), a / 1000 }'
echo
echo "2. Sustained: target $RATE msg/s for $DURATION s"
echo "   sender: $sus_sent sent, $sus_aa AA, $sus_ae AE, $sus_ar AR in $sus_secs s = $sus_rate msg/s ACKed;" \
  "ACK p50 $sus_p50 ms, p99 $sus_p99 ms; sender at most $sus_maxlate ms behind schedule"
read -r n mn p50 p90 p99 mx <<<"$(percentiles "$WORK/backlog.txt")"
echo "   mapping backlog over $n samples: min $mn, median $p50, max $mx (messages)"
awk -v every="$SAMPLE_EVERY" 'NR == 1 { first = $1 } { last = $1; n = NR } END {
  if (n > 1) printf "   backlog first sample %d, last sample %d: %+.0f msg/s over the run (0: bounded)\n", first, last,
                    (last - first) / ((n - 1) * every) }' "$WORK/backlog.txt"
read -r n mn p50 p90 p99 mx <<<"$(percentiles "$WORK/mapped_rate.txt")"
echo "   mapped rate per sample: min $mn, median $p50, max $mx msg/s"
echo "   mapping backlog reached 0 $tail_ms after the last ACK"
read -r n mn p50 p90 p99 mx <<<"$(percentiles "$WORK/visible.txt")"
echo "   ACK -> readable: $(wc -l <"$WORK/visible_timeout.txt") sample(s) not readable within ${VISIBLE_TIMEOUT} s (not in the figures below)"
echo "   ACK -> readable by id (latest ACKed message; upper bound; polled every 20 ms, after 0.5 s 100 ms): n=$n p50 $p50 ms, p90 $p90 ms, max $mx ms"
read -r n mn p50 p90 p99 mx <<<"$(percentiles "$WORK/search_recent.txt")"
echo "   FHIR search Patient?identifier=MRN of that patient:        n=$n min $mn ms, p50 $p50 ms, p90 $p90 ms, max $mx ms" \
  "(one sample in $SEARCH_EVERY)"
read -r n mn p50 p90 p99 mx <<<"$(percentiles "$WORK/search_idle_preload.txt")"
echo "   FHIR search Patient?identifier=MRN, idle, after preload:   n=$n min $mn ms, p50 $p50 ms, max $mx ms"
read -r n mn p50 p90 p99 mx <<<"$(percentiles "$WORK/search_idle_sustained.txt")"
echo "   FHIR search Patient?identifier=MRN, idle, after sustained: n=$n min $mn ms, p50 $p50 ms, max $mx ms"
read -r n mn p50 p90 p99 mx <<<"$(percentiles "$WORK/byid_recent.txt")"
echo "   FHIR read Patient/{id} of that patient (first read):       n=$n min $mn ms, p50 $p50 ms, p90 $p90 ms, max $mx ms"
read -r n mn p50 p90 p99 mx <<<"$(percentiles "$WORK/byid_random.txt")"
echo "   FHIR read Patient/{id} of random patients (keep-alive):    n=$n min $mn ms, p50 $p50 ms, p90 $p90 ms, p99 $p99 ms, max $mx ms"
echo
echo "3. Drain of a backlog (store: $PATIENTS preloaded patients + the sustained run)"
for mode in $DRAIN_MODES; do
  read -r s aa ae ar secs rate p50 p99 <<<"${drain_ingest[$mode]}"
  awk -v n="${drain_n[$mode]}" -v ms="${drain_ms[$mode]}" -v mode="$mode" 'BEGIN {
    what = mode == "replay" ? "replay at start" : "live (running engine)"
    if (ms > 0) printf "   %-22s %d messages mapped in %.1f s = %.0f msg/s\n", what, n, ms / 1000, n / (ms / 1000)
    else printf "   %-22s did not finish\n", what }'
  echo "   (its inbox load, with mapping held off: $s sent, $aa AA, $ae AE, $ar AR, $rate msg/s, p50 $p50 ms, p99 $p99 ms)"
done
odd=""
((pre_aa == pre_sent)) || odd+=" preload: $pre_aa AA of $pre_sent;"
((sus_aa == sus_sent)) || odd+=" sustained: $sus_aa AA of $sus_sent;"
((${PRELOAD_MAPPED:-0} == PATIENTS)) || odd+=" preload mapped_total $PRELOAD_MAPPED (expected $PATIENTS);"
[[ -z $odd ]] || echo "ODD:$odd"
[[ ${ENGINE_RC:-0} == 0 ]] || echo "ODD: engine exited with status $ENGINE_RC"
echo "per-sample figures: see above (samples.txt in the work directory with KEEP_DATA=1)"
