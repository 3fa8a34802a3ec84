#!/usr/bin/env bash
# Installs the dependencies, builds clipmind and runs the whole test suite through CTest.
# Exits non-zero if anything fails; CTest's summary shows how many tests ran.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# pgvector for the PostgreSQL store's tests: Debian 12 has no package, so it is built from
# Debian's own source tarball (checksum pinned; see the script).
scripts/install-pgvector.sh
scripts/build.sh "$@"
build_dir=${BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure --parallel "$(nproc)" --timeout 900

# decode/ and its tests do not link LibTorch, so they also run under AddressSanitizer +
# UndefinedBehaviorSanitizer on every run: a separate tree, the decode test target only. The
# generated test videos are shared with the main tree.
echo "== decode tests again under AddressSanitizer + UndefinedBehaviorSanitizer =="
asan_dir=${ASAN_BUILD_DIR:-build-asan}
videos="$(cd "$build_dir" && pwd)/test-work/videos"
werror=OFF
if [ -n "${CI:-}" ]; then werror=ON; fi
cmake -S . -B "$asan_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCLIPMIND_SANITIZE=ON \
  -DCLIPMIND_WERROR="$werror" -DCLIPMIND_BUILD_BENCH=OFF
cmake --build "$asan_dir" --parallel "$(nproc)" --target decode_tests
CLIPMIND_TEST_VIDEO_DIR="$videos" \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$asan_dir" -L decode -E _NOT_BUILT --output-on-failure \
  --parallel "$(nproc)" --timeout 900
