#!/usr/bin/env bash
# Mutation check of the CI tier's kernel tests: breaks the engine's CUDA kernels in three
# ways a GPU test would catch, one at a time, rebuilds the kernels-on-host test and runs the
# CI tier's `kernels` entries, which must fail each time; every source is restored after
# each mutation (also on error or Ctrl-C).
#   bash tests/bench/kernel_mutations.sh [BUILD_DIR]    (default build/default)
# Prints one line per mutation: "caught" (the tier failed) or "MISSED"; exits 1 if any was
# missed.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/default}
[ -d "$build" ] || { echo "kernel_mutations.sh: no build folder $build" >&2; exit 2; }

mutations=(
  # file | text the mutation replaces | what it becomes | what it breaks
  "engine/cuda/kernel_utils.cuh|        partial[warp] = v;\n    __syncthreads();\n|        partial[warp] = v;\n|block_sum reads the warps' partial sums before they are written"
  "engine/cuda/kernels_grid.cu|double(stats[2 * blockIdx.x + 1]) / hidden|double(stats[2 * blockIdx.x]) / hidden|chunk_norm takes the LayerNorm mean from the squares' slot"
  "engine/cuda/kernels_attention.cu|sc[j * kChunk + p] = dot * scale;|sc[p] = dot * scale;|decode attention writes every query head's scores to the first head's row"
)

backup=$(mktemp -d)
restore() {
  for p in "$backup"/*.path; do
    [ -e "$p" ] || continue
    cp "${p%.path}" "$(cat "$p")"
  done
}
trap 'restore; rm -rf "$backup"' EXIT

missed=0
for m in "${mutations[@]}"; do
  IFS='|' read -r file from to what <<<"$m"
  key=$(basename "$file")
  cp "$file" "$backup/$key"
  echo "$file" >"$backup/$key.path"
  python3 - "$file" "$from" "$to" <<'EOF'
import sys
path, old, new = sys.argv[1], sys.argv[2].encode().decode('unicode_escape'), sys.argv[3].encode().decode('unicode_escape')
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"kernel_mutations.sh: '{old}' is not once in {path}: update the mutation")
open(path, 'w').write(text.replace(old, new))
EOF
  cmake --build "$build" --target tst_engine_kernels_on_host >/dev/null
  if ctest --test-dir "$build" -L '^kernels$' --parallel "$(nproc)" >"$backup/ctest.log" 2>&1; then
    echo "MISSED: $what"
    missed=1
  else
    echo "caught: $what ($(grep -c 'Failed\|Exception' "$backup/ctest.log") failing entries)"
  fi
  cp "$backup/$key" "$file"
  rm "$backup/$key" "$backup/$key.path"
done
cmake --build "$build" --target tst_engine_kernels_on_host >/dev/null
exit $missed
