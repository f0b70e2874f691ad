#!/usr/bin/env bash
# Builds the libFuzzer targets (the "fuzz" preset: clang, ASan/UBSan) and runs each for a
# fixed budget, starting from the repository's real files. A finding (a crash, a sanitizer
# report, an exception other than shard::Error) fails the script and leaves its input in
# build/fuzz/findings/<target>/.
#   tests/fuzz/run_fuzzers.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/../.."
budget=${1:-60}
cmake --preset fuzz >/dev/null
targets=(config_json plan_topology safetensors events)
cmake --build build/fuzz --target "${targets[@]/#/fuzz_}"

declare -A seeds=(
  [config_json]="tests/fixtures/hf resources/models"
  [plan_topology]="plans resources/topologies"
  [safetensors]="tests/fuzz/corpus/safetensors"
  [events]="tests/fuzz/corpus/events"
)
status=0
for target in "${targets[@]}"; do
  work=build/fuzz/corpus/$target
  findings=build/fuzz/findings/$target
  mkdir -p "$work" "$findings"
  for dir in ${seeds[$target]}; do cp -r "$dir"/. "$work"/; done
  echo "== fuzz $target: ${budget}s"
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "build/fuzz/bin/fuzz_$target" "$work" -max_total_time="$budget" -rss_limit_mb=4096 -timeout=20 \
    -artifact_prefix="$findings/" -print_final_stats=1 2>"build/fuzz/$target.log"; then
    echo "fuzz $target: FINDING, see build/fuzz/$target.log and $findings/"
    tail -30 "build/fuzz/$target.log"
    status=1
  else
    grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "build/fuzz/$target.log" | tail -2 || true
  fi
done
exit $status
