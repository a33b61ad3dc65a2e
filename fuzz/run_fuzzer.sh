#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time and prints one summary line; exits non-zero on a
# crash, a sanitizer report (ASan, UBSan, LeakSanitizer), a hang (-timeout), running out of memory
# (-rss_limit_mb) or a broken property. Used by the fuzz build's ctest tests and bench/fuzz_long.sh.
#
#   run_fuzzer.sh TARGET_BINARY SECONDS [more libFuzzer flags]
#
# Seeds: ../shared/corpus/hl7v2 and malformed for the HL7 v2 targets (read in place, never copied;
# skipped with a message when absent) and fuzz/seeds/<target> from the project. New inputs go to a
# work folder (CC_FUZZ_WORK, default ./work/<target>), emptied first unless CC_FUZZ_KEEP=1; crash
# inputs to ./artifacts/.
set -uo pipefail
bin=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$bin")
target=${name%_fuzzer}
shared=${CC_SHARED_DIR:-$here/../../shared}
seeds_root=${CC_FUZZ_SEEDS:-$here/seeds}
work=${CC_FUZZ_WORK:-$PWD/work/$target}
artifacts=${CC_FUZZ_ARTIFACTS:-$PWD/artifacts}
log=${CC_FUZZ_LOG:-$PWD/$target.log}

case $target in
  hl7v2_message|split_messages|mllp_framer|adt_mapping) corpus=(hl7v2 malformed); max_len=65536 ;;
  jwt) corpus=(); max_len=4096 ;;
  http_router) corpus=(); max_len=8192 ;;
  csv_reader|extract_mapping) corpus=(malformed); max_len=65536 ;;
  fhir_ingest) corpus=(fhir-examples synthea); max_len=262144 ;;
  *) echo "run_fuzzer.sh: no settings for $target; add them to the case above" >&2; exit 2 ;;
esac

seeds=()
[ -d "$seeds_root/$target" ] && seeds+=("$seeds_root/$target")
for c in "${corpus[@]}"; do
  if [ -d "$shared/corpus/$c" ]; then
    seeds+=("$shared/corpus/$c")
  else
    echo "fuzz $target: $shared/corpus/$c not found: its seeds are skipped (the run goes on from the project's own seeds)"
  fi
done

[ "${CC_FUZZ_KEEP:-0}" = 1 ] || rm -rf "$work"
mkdir -p "$work" "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[ -n "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$symbolizer}
summary=${CC_FUZZ_SUMMARY:-$PWD/$target.summary}  # the summary line again, for deploy/test.sh to show
rm -f "$summary"

"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
  -print_final_stats=1 -artifact_prefix="$artifacts/$target-" "$@" "$work" "${seeds[@]}" >"$log" 2>&1
status=$?

stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
runs=$(stat number_of_executed_units)
rate=$(stat average_exec_per_sec)
rss=$(stat peak_rss_mb)
inputs=$(find "$work" -type f | wc -l)
if [ "$status" -eq 0 ]; then
  echo "fuzz $target: PASS ${runs:-?} runs in ${seconds} s (${rate:-?} exec/s), ${inputs} new inputs, peak RSS ${rss:-?} MB: no crash, leak or hang" | tee "$summary"
  exit 0
fi
kind="crash"
if grep -q "ERROR: LeakSanitizer" "$log"; then kind="leak"
elif grep -q "ERROR: libFuzzer: timeout" "$log"; then kind="hang (over 10 s on one input)"
elif grep -q "ERROR: libFuzzer: out-of-memory" "$log"; then kind="out of memory (over 2048 MB)"
elif grep -q "runtime error:" "$log"; then kind="undefined behaviour"
elif grep -q "property broken" "$log"; then kind="broken property"
fi
echo "----- last 80 lines of $log -----"
tail -80 "$log"
echo "-----"
artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
echo "fuzz $target: FAIL ($kind) after ${runs:-?} runs (exit $status); input: ${artifact:-none written}; full log: $log" | tee "$summary"
exit 1
