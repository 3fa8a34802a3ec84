#!/usr/bin/env bash
# Takes the GUI screenshot for the docs: clipmind-gui under Xvfb on a sample video with a tiny
# random LLaVA-OneVision (made here with `clipmind make-tiny-model`), asks a question, waits for
# the answer, seeks to its first time (or the middle) and saves the window as a PNG.
#
#   scripts/screenshot.sh [VIDEO] [OUT.png]
#   (defaults: opencv-doc's vtest.avi, docs/screenshot.png; BUILD_DIR=build)
#
# The model's weights are random, so its answer is random text: the picture shows the flow
# (player, timeline with selected frames and merged segments, streamed answer), not quality.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
video=${1:-/usr/share/doc/opencv-doc/examples/data/vtest.avi}
out=${2:-$root/docs/screenshot.png}
question=${QUESTION:-"When does the man in the dark coat cross the square?"}

for exe in "$build/app/clipmind" "$build/app/gui/clipmind-gui"; do
  [ -x "$exe" ] || { echo "screenshot.sh: $exe not built (cmake --build $build --target clipmind clipmind-gui)" >&2; exit 1; }
done
command -v xvfb-run >/dev/null || { echo "screenshot.sh: xvfb-run missing (scripts/setup.sh installs xvfb)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/app/clipmind" make-tiny-model --arch llava-onevision "$work/tiny-vlm" >/dev/null
cat > "$work/config.json" <<JSON
{
  "model": "$work/tiny-vlm",
  "offline": true,
  "cache": {"enabled": false},
  "generate": {"max_new_tokens": 48},
  "select": {"method": "uniform", "max_frames": 16}
}
JSON
mkdir -p "$work/xdg" "$(dirname "$out")"
# Own config and QSettings folders: nothing of the user's leaks into the picture.
CLIPMIND_CONFIG="$work/config.json" XDG_CONFIG_HOME="$work/xdg" QT_QPA_PLATFORM=xcb \
  xvfb-run -a -s "-screen 0 1280x800x24" \
  "$build/app/gui/clipmind-gui" --no-audio --ask "$question" --screenshot "$out" "$video"
echo "screenshot.sh: wrote $out"
