#!/usr/bin/env bash
# Installs the dependencies, builds clipmind and asks a question about a real sample video
# (vtest.avi from Debian's opencv-doc package): `clipmind ask` streams the answer with its
# times. The model is $CLIPMIND_MODEL (a folder or a Hugging Face repo id), else
# llava-hf/llava-onevision-qwen2-0.5b-ov-hf when it is already in the Hugging Face cache, else a
# tiny random model made on the spot: the whole pipeline runs offline, but its answer is noise.
# `clipmind probe` / `clipmind frames` show what the file holds and write 8 of its frames.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build_dir=${BUILD_DIR:-build}
clipmind="$build_dir/app/clipmind"
video=/usr/share/doc/opencv-doc/examples/data/vtest.avi
out="$build_dir/demo/vtest-frames"
rm -rf "$out"
"$clipmind" probe "$video"
"$clipmind" frames "$video" --count 8 --size 384x288 --out "$out"
echo "demo: $(find "$out" -name '*.jpg' | wc -l) frames written to $out"

model=${CLIPMIND_MODEL:-}
real=llava-hf/llava-onevision-qwen2-0.5b-ov-hf
hub=${HF_HUB_CACHE:-${HF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/huggingface}/hub}
if [ -z "$model" ] && [ -d "$hub/models--llava-hf--llava-onevision-qwen2-0.5b-ov-hf/snapshots" ]; then
  model=$real
fi
if [ -z "$model" ]; then
  model="$build_dir/demo/llava-onevision-tiny"
  [ -f "$model/config.json" ] ||
    "$clipmind" make-tiny-model --arch llava-onevision --dims tiny "$model"
  echo "demo: no real model in the Hugging Face cache: using a tiny RANDOM model, so the answer"
  echo "      below is noise. For real answers: CLIPMIND_MODEL=$real scripts/demo.sh"
fi
"$clipmind" ask "$video" "What happens in this video, and when?" --model "$model" \
  --max-new-tokens 64
