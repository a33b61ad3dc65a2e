# Shared helpers for bench/*.sh (sourced, not run). Builds what the benchmarks need, starts and stops
# engines on loopback in a temporary directory, reads /metrics. Every engine started here is stopped
# by the EXIT trap, and the temporary directory is removed unless KEEP_DATA=1.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
CARERECORD=${CARERECORD:-$BUILD_DIR/engine/app/carerecord}
MLLPLOAD_SRC=${MLLPLOAD_SRC:-$ROOT/../shared/tools/mllpload.c}
TOOLS_DIR=$BUILD_DIR/bench-tools
MLLPLOAD=$TOOLS_DIR/mllpload
MLLPRATE=$TOOLS_DIR/mllprate
WORK_PARENT=${WORK_PARENT:-${TMPDIR:-/tmp}}
SKIP_BUILD=${SKIP_BUILD:-0}
# RESULTS_DIR: if set, the small result files and engine logs are copied there at the end.
KEEP_DATA=${KEEP_DATA:-0}

ENGINE_PID=""
MLLP_PORT=""
HTTP_PORT=""
WORK=""
BG_PIDS=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ms() { date +%s%3N; }
# The source the engine was built from (the tree is shared: note uncommitted changes too).
source_version() {
  local rev dirty
  rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || { echo unknown; return; }
  dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
  ((dirty == 0)) && echo "$rev" || echo "$rev + $dirty uncommitted file(s)"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

bench_build() {
  if [[ $SKIP_BUILD != 1 ]]; then
    log "building carerecord in $BUILD_DIR"
    mkdir -p "$BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD_DIR/bench-cmake.log" 2>&1 ||
      { tail -20 "$BUILD_DIR/bench-cmake.log" >&2; die "cmake configure failed (log: $BUILD_DIR/bench-cmake.log)"; }
    cmake --build "$BUILD_DIR" --target carerecord -j"${BUILD_JOBS:-2}" >"$BUILD_DIR/bench-build.log" 2>&1 ||
      { tail -30 "$BUILD_DIR/bench-build.log" >&2; die "build failed (log: $BUILD_DIR/bench-build.log)"; }
  fi
  [[ -x $CARERECORD ]] || die "no carerecord binary at $CARERECORD"
  BUILT_FROM=$(source_version)
  [[ $SKIP_BUILD != 1 ]] || BUILT_FROM="binary not rebuilt; tree now at $BUILT_FROM"
  log "engine built from $BUILT_FROM"
  mkdir -p "$TOOLS_DIR"
  [[ -f $MLLPLOAD_SRC ]] || die "mllpload.c not found at $MLLPLOAD_SRC (set MLLPLOAD_SRC)"
  if [[ ! -x $MLLPLOAD || $MLLPLOAD_SRC -nt $MLLPLOAD ]]; then
    gcc -O2 -o "$MLLPLOAD" "$MLLPLOAD_SRC" -lpthread || die "cannot build mllpload"
  fi
  if [[ ! -x $MLLPRATE || $BENCH_DIR/mllprate.c -nt $MLLPRATE ]]; then
    gcc -O2 -Wall -o "$MLLPRATE" "$BENCH_DIR/mllprate.c" -lpthread || die "cannot build mllprate"
  fi
}

bench_cleanup() {
  local rc=$?
  set +e
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [[ -n $ENGINE_PID ]] && kill -0 "$ENGINE_PID" 2>/dev/null; then stop_engine; fi
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ -n ${RESULTS_DIR:-} ]]; then  # the small files: samples, figures, engine logs
      mkdir -p "$RESULTS_DIR" && find "$WORK" -maxdepth 1 -type f -size -20M -exec cp {} "$RESULTS_DIR"/ \;
      log "figures and logs copied to $RESULTS_DIR"
    fi
    if [[ $KEEP_DATA == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  fi
  exit $rc
}

bench_init() {
  WORK=$(mktemp -d "$WORK_PARENT/cc-bench.XXXXXX")
  trap bench_cleanup EXIT
  trap 'log "interrupted by SIGINT"; exit 130' INT
  trap 'log "interrupted by SIGTERM"; exit 143' TERM
  trap 'log "interrupted by SIGHUP"; exit 129' HUP
  log "work directory $WORK"
}

# start_engine DATA_DIR: starts `carerecord serve` and waits (through any crash replay) for both
# listening lines; sets ENGINE_PID, MLLP_PORT, HTTP_PORT, ENGINE_OUT, ENGINE_ERR.
start_engine() {
  local dir=$1 n=${ENGINE_SEQ:-0}
  ENGINE_SEQ=$((n + 1))
  ENGINE_OUT=$WORK/engine.$n.out
  ENGINE_ERR=$WORK/engine.$n.err
  mkdir -p "$dir"
  "$CARERECORD" serve --dev --data-dir "$dir" --mllp-port 0 --http-port 0 ${ENGINE_ARGS:-} >"$ENGINE_OUT" 2>"$ENGINE_ERR" &
  ENGINE_PID=$!
  local deadline=$((SECONDS + ${ENGINE_START_TIMEOUT:-7200}))
  while ! grep -Eq '^https? listening on' "$ENGINE_OUT" 2>/dev/null; do
    kill -0 "$ENGINE_PID" 2>/dev/null || { tail -20 "$ENGINE_ERR" >&2; ENGINE_PID=""; die "engine exited during start"; }
    ((SECONDS < deadline)) || die "engine did not start listening"
    sleep 0.05
  done
  # Plain (mllp / http) or TLS (mllps / https) listening lines.
  MLLP_PORT=$(sed -n 's/^mllps\{0,1\} listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$ENGINE_OUT")
  HTTP_PORT=$(sed -n 's/^https\{0,1\} listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$ENGINE_OUT")
  HTTP_SCHEME=http
  grep -q '^https listening on' "$ENGINE_OUT" && HTTP_SCHEME=https
  [[ -n $MLLP_PORT && -n $HTTP_PORT ]] || die "engine did not listen on 127.0.0.1 (see $ENGINE_OUT)"
  log "engine pid $ENGINE_PID: mllp 127.0.0.1:$MLLP_PORT, http 127.0.0.1:$HTTP_PORT"
}

# stop_engine: SIGTERM, then wait (SIGKILL after STOP_TIMEOUT seconds).
stop_engine() {
  [[ -n $ENGINE_PID ]] || return 0
  kill -TERM "$ENGINE_PID" 2>/dev/null || true
  local deadline=$((SECONDS + ${STOP_TIMEOUT:-120}))
  while kill -0 "$ENGINE_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if kill -0 "$ENGINE_PID" 2>/dev/null; then
    log "WARNING: engine $ENGINE_PID did not stop within ${STOP_TIMEOUT:-120} s; SIGKILL"
    kill -KILL "$ENGINE_PID" 2>/dev/null || true
  fi
  wait "$ENGINE_PID" 2>/dev/null && ENGINE_RC=0 || ENGINE_RC=$?
  [[ $ENGINE_RC == 0 ]] || log "WARNING: engine exited with status $ENGINE_RC"
  ENGINE_PID=""
}

# wait_engine_idle [TIMEOUT_S]: waits until the engine has used under 5% of a core for a second
# (background work after a phase, such as the checkpoint of a large write-ahead log, has ended), so
# the next phase is timed on its own; prints the ms it took.
wait_engine_idle() {
  local t0 deadline prev now
  t0=$(now_ms)
  deadline=$((SECONDS + ${1:-300}))
  cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$ENGINE_PID/stat"; }
  prev=$(cpu_ticks)
  while ((SECONDS < deadline)); do
    sleep 1
    now=$(cpu_ticks)
    (( (now - prev) * 100 < 5 * $(getconf CLK_TCK) )) && break
    prev=$now
  done
  echo $(($(now_ms) - t0))
}

engine_alive() { [[ -n $ENGINE_PID ]] && kill -0 "$ENGINE_PID" 2>/dev/null; }

# metric NAME: the value of an unlabelled metric from GET /metrics (empty if absent).
metric() {
  # CURL_TLS_ARGS (e.g. --cacert CA.pem) for an engine with TLS on.
  curl -s --max-time 10 ${CURL_TLS_ARGS:-} "${HTTP_SCHEME:-http}://127.0.0.1:$HTTP_PORT/metrics" | awk -v n="$1" '$1 == n { printf "%.0f\n", $2; exit }'
}

# wait_backlog_zero TIMEOUT_S: waits until carerecord_mapping_backlog is 0; prints the ms it took.
wait_backlog_zero() {
  local t0 deadline b
  t0=$(now_ms)
  deadline=$((SECONDS + $1))
  while :; do
    b=$(metric carerecord_mapping_backlog)
    [[ $b == 0 ]] && break
    engine_alive || die "engine died while draining (backlog $b)"
    ((SECONDS < deadline)) || { log "WARNING: backlog still $b after $1 s"; echo -1; return 0; }
    sleep 0.1
  done
  echo $(($(now_ms) - t0))
}

# demo FILE ARGS...: writes demo-feed messages to FILE.
demo() {
  local file=$1
  shift
  "$CARERECORD" demo-feed --write "$file" "$@" >/dev/null || die "demo-feed --write $file failed"
}

# mllpload_run FILE CONNS WINDOW: prints mllpload's line (sent aa ae ar seconds msg_per_s p50_ms p99_ms).
mllpload_run() {
  local out
  out=$("$MLLPLOAD" "$MLLP_PORT" "$1" "$2" "$3") || die "mllpload failed"
  [[ -n $out ]] || die "mllpload printed nothing"
  echo "$out"
}

# A bearer token for FHIR reads.
bench_token() { "$CARERECORD" token --role ae-clinician --user bench --org RBT --data-dir "$1"; }

# percentiles FILE: "n min p50 p90 p99 max" of the numbers in FILE (one a line).
percentiles() {
  sort -g "$1" | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "0 - - - - -"; exit }
    printf "%d %.1f %.1f %.1f %.1f %.1f\n", NR, v[1], v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.9) + 1],
           v[int((NR - 1) * 0.99) + 1], v[NR] }'
}

# Seeds make fresh control ids; default from the clock so no two runs collide.
BASE_SEED=${SEED:-$(($(date +%s) % 100000000))}
