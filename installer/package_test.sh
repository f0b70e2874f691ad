#!/usr/bin/env bash
# Builds the .deb from a configured build folder, unpacks it into a temporary root with
# dpkg-deb -x and runs the unpacked programs from there, far from the build and source
# folders: the CLI's --version, a plan on a preset, a cpu run of the tiny example plan, the
# engine's answer, and the studio offscreen when the package carries it.
# Usage: bash installer/package_test.sh [BUILD_DIR]   (default build/default)
set -euo pipefail
build=${1:-build/default}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls -t "$build"/shardstudio_*.deb | head -1)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb -I "$deb" | grep -E "^ (Package|Version|Depends|Recommends):"
dpkg-deb -x "$deb" "$root"
fail() { echo "package test FAILED: $*" >&2; exit 1; }
for f in usr/bin/shardstudio-cli usr/share/shardstudio/models/llama-3.1-70b.json \
         usr/share/shardstudio/topologies/dgx-h100.json usr/share/shardstudio/plans/tiny-dense-dgx-h100-tp8.shardplan.json \
         usr/share/icons/hicolor/scalable/apps/shardstudio.svg; do
  [ -e "$root/$f" ] || fail "$f is missing from the package"
done
cli="$root/usr/bin/shardstudio-cli"
cd /   # nothing may depend on the build or source folders
export XDG_DATA_HOME="$root/xdg"
"$cli" --version | grep -q "shardstudio-cli" || fail "--version"
"$cli" plan --model tiny-dense --topology dgx-h100 --prompt 128 --gen 64 --top 3 | grep -q "feasible" || fail "plan on a preset"
"$cli" run "$root/usr/share/shardstudio/plans/tiny-dense-dgx-h100-tp8.shardplan.json" --steps 2 2>/dev/null \
  | grep -q "greedy tokens identical" || fail "cpu run of the tiny plan"
"$cli" history list | grep -q "tiny-dense" || fail "the run was not stored"
if [ -x "$root/usr/bin/shard-engine" ]; then
  # Without a GPU the engine answers why; with one it lists it.
  "$root/usr/bin/shard-engine" devices > /dev/null || fail "shard-engine devices"
fi
if [ -x "$root/usr/bin/shardstudio" ]; then
  [ -e "$root/usr/share/applications/shardstudio.desktop" ] || fail "the studio's .desktop entry is missing"
  QT_QPA_PLATFORM=offscreen timeout 60 "$root/usr/bin/shardstudio" --smoke-test 2000 || fail "the studio did not show its window and exit"
fi
echo "package test passed: $(basename "$deb") unpacked and run from $root"
