#!/usr/bin/env bash
# Installs the dependencies, builds clipmind and runs the whole test suite through CTest.
# Exits non-zero if anything fails; CTest's summary shows how many tests ran.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh "$@"
build_dir=${BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure --parallel "$(nproc)" --timeout 900
