#!/usr/bin/env bash
# ShardStudio set-up: installs the Debian 12 packages the project needs (idempotent: it
# installs only what is missing), configures and builds with a CMake preset, then
# optionally runs the tests or the main job.
#
#   installer/setup.sh [--preset NAME] [--test | --test-full] [--werror] [--run] [--package]
#                      [--deps-only]
#
#   --preset NAME  CMake preset to configure, build and test (default: default)
#   --test         run the CI tier of the tests (every ctest entry but those labelled full;
#                  tests/CMakeLists.txt lists the tiers)
#   --test-full    build the benchmarks too and run every entry with SHARD_TEST_TIER=full:
#                  every case of the engine matrices, the eight-GPU kernel part, full
#                  stress counts; then the libFuzzer targets for a fixed budget each
#                  (tests/fuzz/run_fuzzers.sh, clang)
#   --werror       treat compiler warnings as errors (as CI does)
#   --run          open the main job: the studio on the default model and topology, or,
#                  on a machine without a display or without the GUI, the CLI's plan
#   --package      build the Debian package (build/NAME/shardstudio_*.deb) and test it
#                  unpacked in a temporary root (installer/package_test.sh)
#   --deps-only    install the packages and stop
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
preset=default
do_run=0
deps_only=0
do_package=0
test_tier=""
configure_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --test) test_tier=ci; shift ;;
    --test-full) test_tier=full; shift ;;
    --werror) configure_args+=(-DSHARDSTUDIO_WARNINGS_AS_ERRORS=ON); shift ;;
    --run) do_run=1; shift ;;
    --package) do_package=1; shift ;;
    --deps-only) deps_only=1; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# Build tools, Qt 6 (Widgets, Sql, Test, Concurrent, Svg, PrintSupport come with
# qt6-base-dev and qt6-svg-dev), QCustomPlot, SQLite, nlohmann-json, CLI11, OpenBLAS,
# Boost.Context (the fibers the host model of CUDA runs kernel threads on), Open MPI
# (shard-engine-mpi, built where CUDA and NCCL are), and Xvfb so the GUI and its
# tests run on headless machines; clang-format 14 for the format check.
packages=(
  build-essential cmake ninja-build pkg-config git
  qt6-base-dev qt6-base-dev-tools qt6-svg-dev libqt6sql6-sqlite libgl-dev
  libqcustomplot-dev libsqlite3-dev sqlite3 nlohmann-json3-dev libcli11-dev libopenblas-dev
  libboost-context-dev
  libopenmpi-dev openmpi-bin
  xvfb xauth dpkg-dev file
  clang-format-14
)
# The fuzz targets of the full tier are built with clang and its libFuzzer runtime.
[ "$test_tier" = full ] && packages+=(clang-14 libclang-rt-14-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ $deps_only -eq 1 ] && exit 0

cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)
cmake --preset "$preset" "${configure_args[@]}" >/dev/null
cmake --build --preset "$preset" --parallel "$jobs"
bin="$root/build/$preset/bin"

# OpenBLAS single-threaded in every test process (each ctest entry sets it too): the entries
# already run one per core.
case "$test_tier" in
  ci) OPENBLAS_NUM_THREADS=1 ctest --preset "$preset" --parallel "$jobs" --label-exclude '^full$' ;;
  full)
    cmake --build --preset "$preset" --parallel "$jobs" --target benchmarks
    SHARD_TEST_TIER=full OPENBLAS_NUM_THREADS=1 ctest --preset "$preset" --parallel "$jobs"
    bash "$root/tests/fuzz/run_fuzzers.sh" "${SHARD_FUZZ_SECONDS:-60}" ;;
esac

if [ $do_package -eq 1 ]; then
  bash "$here/package_test.sh" "$root/build/$preset"
  echo "install it with: sudo apt install $(ls -t "$root/build/$preset"/shardstudio_*.deb | head -1)"
fi

if [ $do_run -eq 1 ]; then
  if [ -x "$bin/shardstudio" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
    exec "$bin/shardstudio"
  fi
  echo "== No display or no GUI build: the CLI's plan of the default model and topology =="
  "$bin/shardstudio-cli" plan --model llama-3.1-70b --topology dgx-h100
fi
