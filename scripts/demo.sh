#!/usr/bin/env bash
# Installs the dependencies, builds clipmind and runs it on a real sample video
# (vtest.avi from Debian's opencv-doc package).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build_dir=${BUILD_DIR:-build}
video=/usr/share/doc/opencv-doc/examples/data/vtest.avi
"$build_dir/app/clipmind" --help
