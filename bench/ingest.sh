#!/usr/bin/env bash
# Durable ACK throughput and latency (issue 2, "Benchmark"), measured with the reference MLLP client
# ../shared/tools/mllpload.c against `carerecord serve` on a fresh temporary data directory:
#   (a) 4 connections x 32 in flight over INGEST_MESSAGES fresh ADT messages: target >= 15,000 msg/s, p99 < 20 ms
#   (b) 1 connection x 1 in flight over LATENCY_MESSAGES messages:           target p99 < 5 ms
# Prints figures; it is not a pass/fail test. Short run: INGEST_MESSAGES=40000 LATENCY_MESSAGES=2000 bench/ingest.sh
#
# Environment (defaults in brackets):
#   INGEST_MESSAGES [400000]  LATENCY_MESSAGES [20000]  PATIENTS [50000]  REPEAT [1] runs of (a)
#   CONNECTIONS [4]  WINDOW [32]  SEED [from the clock]  DRAIN_BEFORE_LATENCY [1] wait for the mapping
#   backlog to reach 0 before (b)  SKIP_BUILD [0]  BUILD_DIR [build-bench]  KEEP_DATA [0]  WORK_PARENT [/tmp]
source "$(dirname "$0")/lib.sh"

INGEST_MESSAGES=${INGEST_MESSAGES:-400000}
LATENCY_MESSAGES=${LATENCY_MESSAGES:-20000}
PATIENTS=${PATIENTS:-50000}
REPEAT=${REPEAT:-1}
CONNECTIONS=${CONNECTIONS:-4}
WINDOW=${WINDOW:-32}
DRAIN_BEFORE_LATENCY=${DRAIN_BEFORE_LATENCY:-1}

bench_build
bench_init

log "writing $REPEAT x $INGEST_MESSAGES + $LATENCY_MESSAGES demo ADT messages (seed $BASE_SEED...)"
for ((r = 1; r <= REPEAT; r++)); do
  demo "$WORK/ingest.$r.txt" --messages "$INGEST_MESSAGES" --patients "$PATIENTS" --seed $((BASE_SEED + r))
done
demo "$WORK/latency.txt" --messages "$LATENCY_MESSAGES" --patients "$PATIENTS" --seed $((BASE_SEED + 1000))

start_engine "$WORK/data"
LOAD_BEFORE=$(loadavg)

results=()
for ((r = 1; r <= REPEAT; r++)); do
  log "(a) run $r: $INGEST_MESSAGES messages, $CONNECTIONS connections x $WINDOW in flight"
  line=$(mllpload_run "$WORK/ingest.$r.txt" "$CONNECTIONS" "$WINDOW")
  backlog=$(metric carerecord_mapping_backlog)
  engine_alive || die "engine died during run $r"
  log "    mllpload: $line; mapping backlog at the end $backlog; load $(loadavg)"
  results+=("$line $backlog")
  if ((r < REPEAT)) || [[ $DRAIN_BEFORE_LATENCY == 1 ]]; then
    ms=$(wait_backlog_zero 3600)
    log "    mapping backlog drained in $ms ms"
  fi
done

log "(b) $LATENCY_MESSAGES messages, 1 connection x 1 in flight"
lone=$(mllpload_run "$WORK/latency.txt" 1 1)
engine_alive || die "engine died during the latency run"
log "    mllpload: $lone"
LOAD_AFTER=$(loadavg)
stop_engine

verdict() { awk -v ok="$1" 'BEGIN { print (ok ? "met" : "MISSED") }'; }
odd=""
echo
echo "Source: $BUILT_FROM; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "Durable ACK benchmark ($(nproc) cores; load average before $LOAD_BEFORE, after $LOAD_AFTER)"
printf '%-22s %-8s %9s %9s %5s %5s %8s %9s %8s %8s  %-28s %s\n' "run" "conn x w" "messages" "aa" "ae" "ar" \
  "seconds" "msg/s" "p50 ms" "p99 ms" "target" "verdict"
for ((r = 1; r <= REPEAT; r++)); do
  read -r sent aa ae ar secs rate p50 p99 backlog <<<"${results[r - 1]}"
  ok=$(awk -v r="$rate" -v p="$p99" 'BEGIN { print (r >= 15000 && p < 20) }')
  printf '%-22s %-8s %9s %9s %5s %5s %8s %9s %8s %8s  %-28s %s\n' "(a) throughput #$r" "${CONNECTIONS}x$WINDOW" \
    "$sent" "$aa" "$ae" "$ar" "$secs" "$rate" "$p50" "$p99" ">=15000 msg/s, p99 <20 ms" "$(verdict "$ok")"
  ((aa + ae + ar == sent)) || odd+=" run $r: $((sent - aa - ae - ar)) messages got no ACK;"
  ((ae == 0 && ar == 0)) || odd+=" run $r: $ae AE and $ar AR (all demo messages should get AA);"
  echo "                       (mapping backlog when the run ended: $backlog messages)"
done
read -r sent aa ae ar secs rate p50 p99 <<<"$lone"
ok=$(awk -v p="$p99" 'BEGIN { print (p < 5) }')
printf '%-22s %-8s %9s %9s %5s %5s %8s %9s %8s %8s  %-28s %s\n' "(b) lone message" "1x1" "$sent" "$aa" "$ae" "$ar" \
  "$secs" "$rate" "$p50" "$p99" "p99 <5 ms" "$(verdict "$ok")"
((aa + ae + ar == sent)) || odd+=" latency run: $((sent - aa - ae - ar)) messages got no ACK;"
((ae == 0 && ar == 0)) || odd+=" latency run: $ae AE and $ar AR;"
[[ -z $odd ]] || echo "ODD:$odd"
[[ ${ENGINE_RC:-0} == 0 ]] || echo "ODD: engine exited with status $ENGINE_RC"
