#!/usr/bin/env bash
# What TLS costs (issue 6, "Benchmark"): the same loads against a plaintext engine and against one
# with TLS on both listeners (mutual TLS on MLLP), measured with bench_tls (bench/tls_bench.cpp) on
# 127.0.0.1 only. A test PKI (EC P-256) is made with the openssl CLI in the work directory.
#   (a) MLLP ingest: MESSAGES fresh ADT messages, CONNECTIONS x WINDOW in flight, durable ACKs;
#       target: TLS costs under 15% of the plaintext throughput
#   (b) FHIR reads: READS audited GET /fhir/Patient?identifier=... on READ_CONNECTIONS keep-alive
#       connections, after the mapping backlog has drained
#   (c) full TLS handshakes a second (no resumption), 2 client threads, on HTTPS and on MLLP (with a
#       client certificate)
# Plain and TLS runs alternate, REPEAT times, each on a fresh engine and data directory.
# Prints figures; it is not a pass/fail test. Short run: MESSAGES=20000 READS=2000 REPEAT=1 bench/tls.sh
#
# Environment: MESSAGES [100000] PATIENTS [20000] CONNECTIONS [4] WINDOW [32] READS [20000]
#   READ_CONNECTIONS [2] HANDSHAKE_SECONDS [5] REPEAT [2], and lib.sh's (SKIP_BUILD, BUILD_DIR, ...)
source "$(dirname "$0")/lib.sh"

MESSAGES=${MESSAGES:-100000}
PATIENTS=${PATIENTS:-20000}
CONNECTIONS=${CONNECTIONS:-4}
WINDOW=${WINDOW:-32}
READS=${READS:-20000}
READ_CONNECTIONS=${READ_CONNECTIONS:-2}
HANDSHAKE_SECONDS=${HANDSHAKE_SECONDS:-5}
REPEAT=${REPEAT:-2}
BENCH_TLS=$BUILD_DIR/bench/bench_tls
CLK_TCK=$(getconf CLK_TCK)
# The engine's CPU time so far (all threads, user + system), in ms: less sensitive than throughput
# to other work on a shared machine.
engine_cpu_ms() { awk -v t="$CLK_TCK" '{ printf "%d\n", ($14 + $15) * 1000 / t }' "/proc/$ENGINE_PID/stat"; }

bench_build
if [[ $SKIP_BUILD != 1 ]]; then
  cmake --build "$BUILD_DIR" --target bench_tls -j"${BUILD_JOBS:-2}" >"$BUILD_DIR/bench-tls-build.log" 2>&1 ||
    { tail -30 "$BUILD_DIR/bench-tls-build.log" >&2; die "cannot build bench_tls"; }
fi
[[ -x $BENCH_TLS ]] || die "no bench_tls at $BENCH_TLS"
bench_init

pki=$WORK/pki
mkdir -p "$pki"
(
  cd "$pki"
  ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null && chmod 600 "$1.key"; }
  ec ca
  openssl req -x509 -new -key ca.key -subj "/O=Bench/CN=Bench CA" -days 2 -out ca.pem 2>/dev/null
  ec server
  openssl req -new -key server.key -subj "/O=Bench/CN=carerecord.bench" -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
    -out server.pem 2>/dev/null
  ec client
  openssl req -new -key client.key -subj "/O=RBT/CN=pas.bench" -out client.csr 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext \
    -out client.pem 2>/dev/null
) || die "cannot make the test PKI (openssl CLI)"

# No per-user rate limit or per-peer cap in the way of a benchmark client.
limits='"limits": {"requests_per_minute_per_user": 0, "max_connections_per_peer": 100000}'
feed='"feeds": [{"name": "dev-adt", "sending_facilities": ["*"], "processing_ids": ["P", "T"]}]'
echo "{\"development\": true, $limits, $feed}" >"$WORK/plain.json"
echo "{\"development\": true, \"tls\": {\"cert_file\": \"$pki/server.pem\", \"key_file\": \"$pki/server.key\",
  \"client_ca_file\": \"$pki/ca.pem\"}, $limits, $feed}" >"$WORK/tls.json"

declare -A ingest reads cpu_ingest cpu_total cpu_reads
LOAD_BEFORE=$(loadavg)
for ((r = 1; r <= REPEAT; r++)); do
  for mode in plain tls; do
    file=$WORK/msgs.$r.$mode.txt
    demo "$file" --messages "$MESSAGES" --patients "$PATIENTS" --seed $((BASE_SEED + 10 * r + ${#mode}))
    ENGINE_ARGS="--config $WORK/$mode.json" start_engine "$WORK/data.$r.$mode"
    tls_args=()
    CURL_TLS_ARGS=""
    if [[ $mode == tls ]]; then
      tls_args=("$pki/ca.pem" "$pki/client.pem" "$pki/client.key")
      CURL_TLS_ARGS="--cacert $pki/ca.pem"
    fi
    log "($r, $mode) MLLP ingest: $MESSAGES messages, $CONNECTIONS x $WINDOW"
    c0=$(engine_cpu_ms)
    line=$("$BENCH_TLS" mllp "$MLLP_PORT" "$file" "$CONNECTIONS" "$WINDOW" "${tls_args[@]}") || die "bench_tls mllp failed"
    c1=$(engine_cpu_ms)
    log "    $line"
    ingest[$r.$mode]=$line
    ms=$(wait_backlog_zero 3600)
    c2=$(engine_cpu_ms)
    cpu_ingest[$r.$mode]=$((c1 - c0))
    cpu_total[$r.$mode]=$((c2 - c0))
    log "    mapping backlog drained in $ms ms; engine CPU $((c1 - c0)) ms during ingest, $((c2 - c0)) ms with the drain"
    token=$(bench_token "$WORK/data.$r.$mode")
    log "($r, $mode) FHIR reads: $READS on $READ_CONNECTIONS connections"
    c0=$(engine_cpu_ms)
    line=$("$BENCH_TLS" http "$HTTP_PORT" "/fhir/Patient?identifier=M1000001" "$token" "$READS" "$READ_CONNECTIONS" \
      ${tls_args[0]:+"${tls_args[0]}"}) || die "bench_tls http failed"
    cpu_reads[$r.$mode]=$(($(engine_cpu_ms) - c0))
    log "    $line; engine CPU ${cpu_reads[$r.$mode]} ms"
    reads[$r.$mode]=$line
    if [[ $mode == tls && $r == 1 ]]; then
      log "handshakes: HTTPS, then MLLP with a client certificate, $HANDSHAKE_SECONDS s each"
      hs_https=$("$BENCH_TLS" handshake "$HTTP_PORT" "$HANDSHAKE_SECONDS" "$pki/ca.pem")
      hs_mllps=$("$BENCH_TLS" handshake "$MLLP_PORT" "$HANDSHAKE_SECONDS" "$pki/ca.pem" "$pki/client.pem" "$pki/client.key")
      log "    https: $hs_https; mllps: $hs_mllps"
    fi
    stop_engine
  done
done
LOAD_AFTER=$(loadavg)

echo
echo "Source: $BUILT_FROM; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "TLS cost benchmark ($(nproc) cores; load average before $LOAD_BEFORE, after $LOAD_AFTER)"
pct() { awk -v p="$1" -v t="$2" 'BEGIN { printf "%.1f", (p - t) * 100 / p }'; }
pct_up() { awk -v p="$1" -v t="$2" 'BEGIN { printf "%+.1f", (t - p) * 100 / p }'; }
printf '%-22s %9s %9s %5s %8s %9s %8s %8s %11s %11s\n' "MLLP ingest (${CONNECTIONS}x$WINDOW)" messages aa ar seconds msg/s \
  "p50 ms" "p99 ms" "cpu us/msg" "+drain"
sum_plain=0 sum_tls=0 cpu_plain=0 cpu_tls=0 cput_plain=0 cput_tls=0
for ((r = 1; r <= REPEAT; r++)); do
  for mode in plain tls; do
    read -r sent aa ae ar secs rate p50 p99 <<<"${ingest[$r.$mode]}"
    ci=${cpu_ingest[$r.$mode]} ct=${cpu_total[$r.$mode]}
    printf '%-22s %9s %9s %5s %8s %9s %8s %8s %11s %11s\n' "  run $r $mode" "$sent" "$aa" "$ar" "$secs" "$rate" "$p50" \
      "$p99" "$((ci * 1000 / sent))" "$((ct * 1000 / sent))"
    if [[ $mode == plain ]]; then
      sum_plain=$((sum_plain + rate)) cpu_plain=$((cpu_plain + ci)) cput_plain=$((cput_plain + ct))
    else
      sum_tls=$((sum_tls + rate)) cpu_tls=$((cpu_tls + ci)) cput_tls=$((cput_tls + ct))
    fi
  done
done
cost=$(pct "$sum_plain" "$sum_tls")
verdict=$(awk -v c="$cost" 'BEGIN { print (c < 15 ? "met" : "MISSED") }')
echo "  TLS cost on ingest throughput (sum over runs): $cost% (target < 15%: $verdict)"
echo "  TLS cost in engine CPU a message: $(pct_up "$cpu_plain" "$cpu_tls")% during ingest, $(pct_up "$cput_plain" "$cput_tls")% with mapping"
printf '%-22s %9s %9s %8s %9s %8s %8s %11s\n' "FHIR reads (${READ_CONNECTIONS} conns)" requests ok seconds req/s "p50 ms" "p99 ms" "cpu us/req"
rp=0 rt=0 crp=0 crt=0
for ((r = 1; r <= REPEAT; r++)); do
  for mode in plain tls; do
    read -r n ok secs rate p50 p99 <<<"${reads[$r.$mode]}"
    cr=${cpu_reads[$r.$mode]}
    printf '%-22s %9s %9s %8s %9s %8s %8s %11s\n' "  run $r $mode" "$n" "$ok" "$secs" "$rate" "$p50" "$p99" "$((cr * 1000 / n))"
    if [[ $mode == plain ]]; then rp=$((rp + rate)) crp=$((crp + cr)); else rt=$((rt + rate)) crt=$((crt + cr)); fi
  done
done
echo "  TLS cost on read throughput (sum over runs): $(pct "$rp" "$rt")%; engine CPU a read: $(pct_up "$crp" "$crt")%"
echo "Full handshakes (2 client threads, no resumption): https $hs_https | mllps (client cert) $hs_mllps"
echo "  (columns: handshakes seconds handshakes/s protocol)"
