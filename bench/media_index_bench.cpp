// media_index_bench: N FrameSamplers on one large MPEG-TS (no index: every sampler without a
// shared decode::MediaIndexCache reads all its packets to find the keyframes), each without a
// cache and all sharing one, in the same run; prints both wall times and their ratio. This is
// what `ask` does to a TS recording: selection probes, relevance frames and the encode pass
// each open a sampler (docs/benchmarks.md, "Decode: one index read per file").
//
//   bench/media_index_bench [samplers=5] [video]
//
// Without a video it makes CLIPMIND_BENCH_WORK_DIR/index-bench.ts (about 300 MB: 46 s of
// 640x360 noise at constant quality, a keyframe every 2 s) with the ffmpeg CLI, once. One
// untimed read first puts the file in the page cache, so both runs read from memory: the
// ratio is demuxing work, not disk speed.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "decode/frame_sampler.h"
#include "decode/media_index.h"
#include "decode/video_info.h"

namespace fs = std::filesystem;
using namespace clipmind;

namespace {

fs::path make_video() {
  const fs::path dir = CLIPMIND_BENCH_WORK_DIR;
  const fs::path path = dir / "index-bench.ts";
  if (fs::exists(path)) return path;
  fs::create_directories(dir);
  const fs::path partial = dir / "index-bench.partial.ts";
  const std::string cmd =
      "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x360:rate=25 -t 46 "
      "-vf noise=alls=30:allf=t -c:v libx264 -preset ultrafast -qp 12 -g 50 '" +
      partial.string() + "'";
  std::printf("making %s ...\n", path.c_str());
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("ffmpeg failed: " + cmd);
  fs::rename(partial, path);
  return path;
}

// Wall seconds of `samplers` samplers, each taking 8 fast (keyframe-near) frames at 64x36, as
// the scene probes do.
double run(const fs::path& video, double duration, int samplers,
           const std::shared_ptr<decode::MediaIndexCache>& cache) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < samplers; ++i) {
    std::vector<double> times;
    for (int k = 0; k < 8; ++k)
      times.push_back((k + 0.5 + 0.1 * i) * duration / 8.5);
    decode::SamplerOptions o;
    o.width = 64;
    o.height = 36;
    o.mode = decode::SampleMode::kFast;
    o.fast_tolerance = 1.0;
    o.index_cache = cache;
    decode::FrameSampler sampler(video, times, o);
    int got = 0;
    while (sampler.next())
      ++got;
    if (got != 8) std::printf("  (sampler %d returned %d frames)\n", i, got);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int samplers = argc > 1 ? std::atoi(argv[1]) : 5;
    const fs::path video = argc > 2 ? fs::path(argv[2]) : make_video();
    const decode::VideoInfo info = decode::probe(video);
    const size_t keyframes = decode::keyframe_times(video).size();  // also warms the page cache
    std::printf("%s: %.0f MB, %.1f s, %zu keyframes; %d samplers of 8 fast 64x36 frames\n",
                video.c_str(), static_cast<double>(fs::file_size(video)) / 1e6, info.duration,
                keyframes, samplers);
    const double alone = run(video, info.duration, samplers, nullptr);
    auto cache = std::make_shared<decode::MediaIndexCache>();
    const double shared = run(video, info.duration, samplers, cache);
    std::printf("each sampler reads the file:   %7.2f s\n", alone);
    std::printf(
        "one shared MediaIndexCache:    %7.2f s (%lld full read(s), %lld reuse(s), "
        "%zu bytes held)\n",
        shared, static_cast<long long>(cache->reads()), static_cast<long long>(cache->reuses()),
        cache->bytes());
    std::printf("ratio (without / with cache): %.2fx\n", alone / shared);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "media_index_bench: %s\n", e.what());
    return 1;
  }
}
