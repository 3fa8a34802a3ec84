#!/usr/bin/env bash
# Configures and builds clipmind into build/ (Release). Extra arguments go to CMake's configure
# step, e.g. scripts/build.sh -DCLIPMIND_SANITIZE=ON. Set BUILD_DIR to build elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
werror=OFF
if [ -n "${CI:-}" ]; then werror=ON; fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCLIPMIND_WERROR="$werror" "$@"
cmake --build "$build_dir" --parallel "$(nproc)"
