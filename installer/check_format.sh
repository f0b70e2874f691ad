#!/usr/bin/env bash
# Checks that every C++ and CUDA source in the repository is formatted as .clang-format
# says (clang-format 14, Debian 12's; other versions format some constructs differently).
#   installer/check_format.sh         check, list the files that differ, exit 1 if any
#   installer/check_format.sh --fix   reformat them in place
set -euo pipefail
cd "$(dirname "$0")/.."
formatter=$(command -v clang-format-14 || true)
[ -n "$formatter" ] || { echo "check_format.sh: clang-format-14 is missing (apt-get install clang-format-14)" >&2; exit 2; }
# Tracked files and new ones git does not ignore, so --fix reaches a file before its first commit.
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cpp' '*.h' '*.cu' '*.cuh' | sort -u)
if [ "${1:-}" = "--fix" ]; then
  printf '%s\0' "${files[@]}" | xargs -0 -P "$(nproc)" "$formatter" -i
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$formatter" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check_format.sh: ${#bad[@]} file(s) differ from .clang-format (installer/check_format.sh --fix):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check_format.sh: ${#files[@]} files formatted as .clang-format says"
