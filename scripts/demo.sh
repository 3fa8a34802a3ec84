#!/usr/bin/env bash
# Installs the dependencies, builds clipmind and runs it on a real sample video
# (vtest.avi from Debian's opencv-doc package): `clipmind probe` shows what the file holds,
# `clipmind frames` writes 8 evenly spaced frames as JPEG files named by their time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build_dir=${BUILD_DIR:-build}
video=/usr/share/doc/opencv-doc/examples/data/vtest.avi
out="$build_dir/demo/vtest-frames"
rm -rf "$out"
"$build_dir/app/clipmind" probe "$video"
"$build_dir/app/clipmind" frames "$video" --count 8 --size 384x288 --out "$out"
echo "demo: $(find "$out" -name '*.jpg' | wc -l) frames written to $out"
