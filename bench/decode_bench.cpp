// Decode benchmark: our FrameSampler against OpenCV seeking and the ffmpeg CLI, in one run.
//
// Makes (once, cached in the build tree) two 10-minute 1280x720 30 fps H.264 videos, one with
// a 10 s GOP and one with a 2 s GOP, then times for each:
//   - sampling 32 and 256 uniformly spaced frames at 384x384: our accurate mode with 1 thread
//     and with all cores (and, for 32 frames, 1 thread with skip_unneeded_frames off: every
//     frame up to each time decoded), our fast mode (tolerance: half the spacing), our
//     keyframes mode,
//     and OpenCV cv::VideoCapture seeking (CAP_PROP_POS_MSEC + read + cv::resize), the
//     approach of the Python video-LLM code (as it runs by default, one decoder thread per
//     core, and for 32 frames also pinned to one core);
//   - a full decode: ours (every frame, no conversion, all cores) and `ffmpeg -f null`;
//   - `ffmpeg -skip_frame nokey -f null` as the keyframe-only floor.
// Prints medians of --repeat runs and the ratios the targets in docs/benchmarks.md refer to.
// Absolute times depend on the machine; only ratios measured in the same run are compared.
//
// Usage: decode_bench [--repeat N] [--threads N] [--work DIR] [--only gop10|gop2] [--prepare]
// (--prepare only makes the videos.)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include "decode/frame_sampler.h"
#include "decode/video_info.h"

namespace {

namespace fs = std::filesystem;
using clipmind::decode::FrameSampler;
using clipmind::decode::SampleMode;
using clipmind::decode::SamplerOptions;

constexpr int kSide = 384;
constexpr double kDuration = 600.0;
constexpr int kFps = 30;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds used by this process and its finished children (ffmpeg): a machine shared with
// other jobs stretches wall time, much less CPU time.
double cpu_now() {
  rusage self{};
  rusage children{};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return sec(self.ru_utime) + sec(self.ru_stime) + sec(children.ru_utime) + sec(children.ru_stime);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string quote(const std::string& s) {
  return "'" + s + "'";
}

int run(const std::string& cmd) {
  return std::system(cmd.c_str());
}

fs::path make_video(const fs::path& dir, int gop_seconds) {
  const fs::path path = dir / ("bench-720p-10min-gop" + std::to_string(gop_seconds) + "s.mp4");
  if (fs::exists(path)) return path;
  fs::create_directories(dir);
  const fs::path part = dir / ("part-" + path.filename().string());
  std::printf("making %s (once; a few minutes)...\n", path.c_str());
  std::fflush(stdout);
  const std::string cmd =
      "ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=" +
      std::to_string(kFps) + " -t " + std::to_string(static_cast<int>(kDuration)) +
      " -c:v libx264 -preset veryfast -pix_fmt yuv420p -g " + std::to_string(gop_seconds * kFps) +
      " -keyint_min " + std::to_string(gop_seconds * kFps) + " -sc_threshold 0 " +
      quote(part.string());
  if (run(cmd) != 0) {
    std::fprintf(stderr, "decode_bench: ffmpeg failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  fs::rename(part, path);
  return path;
}

std::vector<double> uniform_times(int n) {
  std::vector<double> t;
  for (int i = 0; i < n; ++i)
    t.push_back((i + 0.5) * kDuration / n);
  return t;
}

struct Result {
  double seconds = 0;
  double cpu = 0;
  double mean_error = 0;  // mean |frame time − requested time|
  size_t frames = 0;
  int64_t decoded = -1;  // frames the decoders returned (our sampler only)
};

Result time_sampler(const fs::path& video, const std::vector<double>& times, SamplerOptions o) {
  Result r;
  const double start = now();
  const double cpu_start = cpu_now();
  FrameSampler sampler(video, times, o);
  while (auto s = sampler.next()) {
    r.mean_error += std::abs(s->frame.time - s->requested_time);
    ++r.frames;
  }
  r.seconds = now() - start;
  r.cpu = cpu_now() - cpu_start;
  r.decoded = sampler.stats().frames_decoded;
  if (r.frames) r.mean_error /= static_cast<double>(r.frames);
  return r;
}

// OpenCV's FFmpeg backend opens its decoder with one thread per core and offers no way to
// change that (OpenCV 4.6; OPENCV_FFMPEG_CAPTURE_OPTIONS only reaches the demuxer). For the
// "one thread" comparison the calling thread is pinned to one core while the capture is opened
// and used: the decoder threads FFmpeg starts inherit the mask, so OpenCV runs on one core.
class PinToOneCore {
 public:
  explicit PinToOneCore(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_);
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &saved_)) {
        CPU_SET(c, &one);
        break;
      }
    }
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
  }
  ~PinToOneCore() {
    if (enabled_) pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_);
  }
  PinToOneCore(const PinToOneCore&) = delete;
  PinToOneCore& operator=(const PinToOneCore&) = delete;

 private:
  bool enabled_;
  cpu_set_t saved_{};
};

Result time_opencv(const fs::path& video, const std::vector<double>& times, bool one_core = false) {
  const PinToOneCore pin(one_core);
  Result r;
  const double start = now();
  const double cpu_start = cpu_now();
  cv::VideoCapture cap(video.string(), cv::CAP_FFMPEG);
  if (!cap.isOpened()) {
    std::fprintf(stderr, "decode_bench: OpenCV cannot open %s\n", video.c_str());
    std::exit(1);
  }
  cv::Mat frame;
  cv::Mat small;
  for (double t : times) {
    cap.set(cv::CAP_PROP_POS_MSEC, t * 1000.0);
    if (!cap.read(frame)) continue;
    const double got = cap.get(cv::CAP_PROP_POS_MSEC) / 1000.0;
    cv::resize(frame, small, cv::Size(kSide, kSide), 0, 0, cv::INTER_CUBIC);
    r.mean_error += std::abs(got - t);
    ++r.frames;
  }
  r.seconds = now() - start;
  r.cpu = cpu_now() - cpu_start;
  if (r.frames) r.mean_error /= static_cast<double>(r.frames);
  return r;
}

Result time_command(const std::string& cmd) {
  Result r;
  const double start = now();
  const double cpu_start = cpu_now();
  if (run(cmd) != 0) {
    std::fprintf(stderr, "decode_bench: failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  r.seconds = now() - start;
  r.cpu = cpu_now() - cpu_start;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 3;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  fs::path work = CLIPMIND_BENCH_WORK_DIR;
  std::string only;
  bool prepare = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--prepare") {
      prepare = true;
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--work" && i + 1 < argc) {
      work = argv[++i];
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: decode_bench [--repeat N] [--threads N] [--work DIR] [--only "
                   "gop10|gop2] [--prepare]\n");
      return 2;
    }
  }
  cv::setNumThreads(threads);
  std::printf("decode_bench: %d thread(s), median of %d run(s), OpenCV %s\n", threads, repeat,
              CV_VERSION);

  for (int gop : {10, 2}) {
    if (!only.empty() && only != "gop" + std::to_string(gop)) continue;
    const fs::path video = make_video(work, gop);
    if (prepare) continue;
    const auto info = clipmind::decode::probe(video);
    std::printf("\n== %s: %dx%d %s, %.0f s, %lld frames, GOP %d s\n", video.filename().c_str(),
                info.width, info.height, info.codec.c_str(), info.duration,
                static_cast<long long>(info.frame_count), gop);

    std::map<std::string, std::vector<double>> runs;
    std::map<std::string, std::vector<double>> cpu;
    std::map<std::string, double> errors;
    std::map<std::string, int64_t> decoded;
    auto record = [&](const std::string& name, const Result& r) {
      runs[name].push_back(r.seconds);
      cpu[name].push_back(r.cpu);
      if (r.frames) errors[name] = r.mean_error;
      if (r.decoded >= 0) decoded[name] = r.decoded;
    };
    std::vector<double> all_frames;
    for (int i = 0; i < static_cast<int>(kDuration) * kFps; ++i)
      all_frames.push_back(i / double(kFps));

    for (int rep = 0; rep < repeat; ++rep) {
      for (int n : {32, 256}) {
        const std::vector<double> times = uniform_times(n);
        const std::string k = std::to_string(n);
        SamplerOptions base;
        base.width = kSide;
        base.height = kSide;
        SamplerOptions one = base;
        one.threads = 1;
        record("accurate-1t/" + k, time_sampler(video, times, one));
        if (n == 32) {  // the same without leaving out unneeded non-reference frames
          SamplerOptions all_frames = one;
          all_frames.skip_unneeded_frames = false;
          record("accurate-1t-noskip/" + k, time_sampler(video, times, all_frames));
        }
        SamplerOptions all = base;
        all.threads = threads;
        record("accurate/" + k, time_sampler(video, times, all));
        SamplerOptions fast = all;
        fast.mode = SampleMode::kFast;
        fast.fast_tolerance = kDuration / n / 2;
        record("fast/" + k, time_sampler(video, times, fast));
        SamplerOptions keys = all;
        keys.mode = SampleMode::kKeyframes;
        record("keyframes/" + k, time_sampler(video, times, keys));
        record("opencv/" + k, time_opencv(video, times));
        if (n == 32) record("opencv-1core/" + k, time_opencv(video, times, /*one_core=*/true));
      }
      SamplerOptions full;
      full.threads = threads;
      full.convert = false;
      record("full-decode", time_sampler(video, all_frames, full));
      record("ffmpeg-null",
             time_command("ffmpeg -nostdin -v error -threads " + std::to_string(threads) + " -i " +
                          quote(video.string()) + " -f null -"));
      record("ffmpeg-nokey",
             time_command("ffmpeg -nostdin -v error -threads " + std::to_string(threads) +
                          " -skip_frame nokey -i " + quote(video.string()) + " -f null -"));
    }

    std::printf("%-21s %9s %9s %12s %8s   (wall s of all runs)\n", "what", "median s", "cpu s",
                "mean |dt| s", "decoded");
    for (const auto& [name, v] : runs) {
      std::printf("%-21s %9.3f %9.3f %12s %8s  ", name.c_str(), median(v), median(cpu[name]),
                  errors.count(name) ? std::to_string(errors[name]).c_str() : "-",
                  decoded.count(name) ? std::to_string(decoded[name]).c_str() : "-");
      for (double s : v)
        std::printf(" %.3f", s);
      std::printf("\n");
    }
    auto m = [&](const std::string& name) { return median(runs[name]); };
    std::printf("ratios (GOP %d s):\n", gop);
    std::printf(
        "   32 frames: accurate 1 thread, every frame decoded / unneeded ones left out = "
        "%.2f\n",
        m("accurate-1t-noskip/32") / m("accurate-1t/32"));
    std::printf(
        "   32 frames: accurate 1 thread / OpenCV on one core = %.2f (target <= 1, both "
        "on one core)\n",
        m("accurate-1t/32") / m("opencv-1core/32"));
    for (const char* n : {"32", "256"}) {
      const std::string k = n;
      std::printf("  %3s frames: accurate 1 thread / OpenCV = %.2f (target <= 1)\n", n,
                  m("accurate-1t/" + k) / m("opencv/" + k));
      std::printf("  %3s frames: OpenCV / accurate %d threads = %.2f (target >= 1.8)\n", n, threads,
                  m("opencv/" + k) / m("accurate/" + k));
      std::printf("  %3s frames: OpenCV / fast = %.2f (target >= 4)\n", n,
                  m("opencv/" + k) / m("fast/" + k));
      std::printf("  %3s frames: OpenCV / keyframes = %.2f\n", n,
                  m("opencv/" + k) / m("keyframes/" + k));
    }
    std::printf("  full decode / ffmpeg -f null = %.2f (target <= 1.1)\n",
                m("full-decode") / m("ffmpeg-null"));
    std::printf("  ffmpeg -skip_frame nokey (floor) = %.3f s\n", m("ffmpeg-nokey"));
    std::fflush(stdout);
  }
  return 0;
}
