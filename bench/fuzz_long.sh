#!/usr/bin/env bash
# Fuzzes each libFuzzer target for a long time (issue 6 asks for one CPU-hour a target) outside CI
# and prints one line a target: runs, executions per second, new inputs, and PASS or what was found.
#
#   bench/fuzz_long.sh [TARGET...]        # default: every target, one after another
#
# Environment: FUZZ_SECONDS (3600 a target, wall clock), FUZZ_CPU_SECONDS (when set, a target is
# run again in FUZZ_SECONDS chunks, each carrying on from the grown corpus, until the target has had
# that much CPU time, counted in TARGET.ledger across calls: on a shared machine wall-clock time is
# not CPU time), JOBS (1: targets run one at a time, one core each;
# 2 runs two targets side by side), SKIP_BUILD=1 (use build-fuzz/ as it is), RESULTS_DIR (where
# logs, the grown corpora and any crash inputs go; default build-fuzz/long-runs). The grown corpus
# of each target is kept there (CC_FUZZ_KEEP=1), so a second run carries on from the first.
# Do not pause a run (SIGSTOP) to measure something else: libFuzzer's per-input -timeout counts wall
# time, so the input in hand when the run resumes is reported as a hang (rerun such an input alone:
# `build-fuzz/fuzz/TARGET_fuzzer -timeout=60 FILE`). To stop for a benchmark, send the fuzzers SIGINT
# (`pkill -INT -f _fuzzer`): the runs in hand are counted and no further target starts. Nothing is sent over the network; the HTTP target works on a temporary store under /dev/shm.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where the kernel schedules by session (autogroup), nice alone does not yield to other sessions'
# work: a fuzz started with setsid took half the CPU from a build beside it at nice 19. As a session
# leader, give the session this process's nice too.
if [ "$(ps -o sid= -p $$ | tr -d ' ')" = "$$" ] && [ -w /proc/self/autogroup ]; then
  echo "$(ps -o ni= -p $$ | tr -d ' ')" >/proc/self/autogroup 2>/dev/null || true
fi
seconds=${FUZZ_SECONDS:-3600}
jobs=${JOBS:-1}
results=${RESULTS_DIR:-$PWD/build-fuzz/long-runs}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(hl7v2_message split_messages mllp_framer adt_mapping csv_reader extract_mapping fhir_ingest jwt http_router)

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B build-fuzz -DCC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
  cmake --build build-fuzz -j"${BUILD_JOBS:-$(nproc)}"
fi
mkdir -p "$results"
echo "fuzzing ${targets[*]} for $seconds s each, $jobs at a time; logs and corpora in $results"

# ledger_totals FILE: "runs CPU-seconds finished-runs" summed over a target's ledger.
ledger_totals() { awk '{ r += $1; c += $2; n++ } END { printf "%d %d %d\n", r, c, n }' "$1"; }

run_one() {
  # Each finished run appends "runs CPU-seconds" to $t.ledger, so a long fuzz stopped part-way (the
  # machine was wanted for a benchmark) loses only the run in hand, and a later call carries on.
  local t=$1 ledger="$results/$t.ledger" cpu runs chunks n c line
  touch "$ledger"
  while :; do
    read -r runs cpu chunks < <(ledger_totals "$ledger")
    [ -z "${FUZZ_CPU_SECONDS:-}" ] || [ "$cpu" -lt "$FUZZ_CPU_SECONDS" ] || break
    CC_FUZZ_KEEP=1 CC_FUZZ_WORK="$results/corpus/$t" CC_FUZZ_ARTIFACTS="$results/artifacts" \
      CC_FUZZ_LOG="$results/$t.log" CC_FUZZ_SUMMARY="$results/$t.summary" \
      /usr/bin/time -f "%U %S" -o "$results/$t.cpu" \
      fuzz/run_fuzzer.sh "build-fuzz/fuzz/${t}_fuzzer" "$seconds" >/dev/null || true
    line=$(cat "$results/$t.summary")
    # A run stopped from outside (SIGINT to the fuzzer: the machine is wanted for a benchmark)
    # found nothing: its runs and CPU time count, and this call ends so the machine is left quiet.
    interrupted=0
    grep -q '^==[0-9]*== libFuzzer: run interrupted' "$results/$t.log" && interrupted=1
    case $line in *FAIL*) [ "$interrupted" = 1 ] || break ;; esac
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$results/$t.log" | tail -1)
    c=$(tail -1 "$results/$t.cpu" | awk '{ printf "%d", $1 + $2 }')
    echo "${n:-0} ${c:-0}" >>"$ledger"
    if [ "$interrupted" = 1 ]; then
      read -r runs cpu chunks < <(ledger_totals "$ledger")
      echo "fuzz $t: interrupted from outside, nothing found; in all $runs runs, $cpu CPU seconds" | tee "$results/$t.summary"
      touch "$results/STOPPED"
      return 0
    fi
    [ -n "${FUZZ_CPU_SECONDS:-}" ] || break
  done
  read -r runs cpu chunks < <(ledger_totals "$ledger")
  [ -n "$line" ] || line="fuzz $t: PASS (nothing left to run)"
  echo "$line; in all $runs runs over $chunks run(s), $cpu CPU seconds ($((runs / (cpu > 0 ? cpu : 1))) exec per CPU second)" \
    | tee "$results/$t.summary"
}

status=0
running=0
rm -f "$results/STOPPED"
for t in "${targets[@]}"; do
  [ ! -e "$results/STOPPED" ] || break
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || status=1; running=$((running - 1)); fi
done
wait || status=1
echo "summary:"
cat "$results"/*.summary
! grep -q FAIL "$results"/*.summary
