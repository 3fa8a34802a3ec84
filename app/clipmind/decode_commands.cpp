// `clipmind probe` and `clipmind frames`: argument parsing and printing around decode/.
//
// `frames` prints the paths it wrote for programs to read: one per line, exactly as written
// (any bytes but "\n", which the one name a user chooses, --out, may not then contain), or
// NUL-terminated with -0 (any --out). On a terminal the paths are shown terminal-safe instead
// (terminal_text.h), like every other text the CLI prints there.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include "app/clipmind/commands.h"
#include "app/clipmind/json_escape.h"
#include "app/clipmind/terminal_text.h"
#include "clipmind/error.h"
#include "decode/frame_sampler.h"
#include "decode/image_writer.h"
#include "decode/video_info.h"

namespace clipmind::cli {
namespace {

std::string number(double v) {
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

void print_probe(const decode::VideoInfo& v, bool json) {
  const std::string rate =
      std::to_string(v.avg_frame_rate.num) + "/" + std::to_string(v.avg_frame_rate.den);
  const std::string sar =
      std::to_string(v.sample_aspect_ratio.num) + ":" + std::to_string(v.sample_aspect_ratio.den);
  if (json) {
    std::printf(
        "{\n  \"path\": \"%s\",\n  \"container\": \"%s\",\n  \"format_name\": \"%s\",\n"
        "  \"start_time\": %s,\n  \"duration\": %s,\n  \"header_duration\": %s,\n"
        "  \"codec\": \"%s\",\n"
        "  \"codec_long_name\": \"%s\",\n"
        "  \"profile\": \"%s\",\n  \"pixel_format\": \"%s\",\n  \"width\": %d,\n"
        "  \"height\": %d,\n  \"rotation\": %d,\n  \"sample_aspect_ratio\": \"%s\",\n"
        "  \"display_width\": %d,\n  \"display_height\": %d,\n  \"avg_frame_rate\": \"%s\",\n"
        "  \"fps\": %s,\n  \"frame_count\": %lld,\n  \"frame_count_exact\": %s,\n"
        "  \"bit_rate\": %lld,\n  \"video_bit_rate\": %lld,\n  \"has_b_frames\": %s,\n"
        "  \"field_order\": \"%s\",\n  \"interlaced\": %s,\n"
        "  \"has_audio\": %s,\n  \"audio_codec\": \"%s\"\n}\n",
        json_escape(v.path.string()).c_str(), json_escape(v.container).c_str(),
        json_escape(v.format_name).c_str(), number(v.start_time).c_str(),
        number(v.duration).c_str(), number(v.header_duration).c_str(), json_escape(v.codec).c_str(),
        json_escape(v.codec_long_name).c_str(), json_escape(v.profile).c_str(),
        json_escape(v.pixel_format).c_str(), v.width, v.height, v.rotation, sar.c_str(),
        v.display_width, v.display_height, rate.c_str(), number(v.frame_rate()).c_str(),
        static_cast<long long>(v.frame_count), v.frame_count_exact ? "true" : "false",
        static_cast<long long>(v.bit_rate), static_cast<long long>(v.video_bit_rate),
        v.has_b_frames ? "true" : "false", json_escape(v.field_order).c_str(),
        v.interlaced() ? "true" : "false", v.has_audio ? "true" : "false",
        json_escape(v.audio_codec).c_str());
    return;
  }
  std::printf("file:          %s\n", cli::terminal_safe(v.path.string()).c_str());
  std::printf("container:     %s (%s)\n", v.container.c_str(), v.format_name.c_str());
  std::printf("duration:      %.3f s\n", v.duration);
  if (v.start_time > 0) {
    std::printf(
        "video starts:  %.3f s (another stream starts first: times count from the file's start)\n",
        v.start_time);
  }
  if (v.header_duration > 0) {
    std::printf("cut short:     the header promises %.3f s; the data ends at %.3f s\n",
                v.header_duration, v.duration);
  }
  std::printf("video codec:   %s%s%s\n", v.codec.c_str(), v.profile.empty() ? "" : ", ",
              v.profile.c_str());
  std::printf("size:          %dx%d (%s), pixel aspect %s\n", v.width, v.height,
              v.pixel_format.c_str(), sar.c_str());
  std::printf("rotation:      %d degrees clockwise\n", v.rotation);
  std::printf("display size:  %dx%d\n", v.display_width, v.display_height);
  std::printf("frame rate:    %.3f fps (%s)\n", v.frame_rate(), rate.c_str());
  std::printf("frames:        %lld%s\n", static_cast<long long>(v.frame_count),
              v.frame_count_exact ? "" : " (estimated)");
  std::printf("bit rate:      %lld bit/s (video %lld bit/s)\n", static_cast<long long>(v.bit_rate),
              static_cast<long long>(v.video_bit_rate));
  std::printf("b-frames:      %s\n", v.has_b_frames ? "yes" : "no");
  if (v.interlaced()) {
    std::printf("interlaced:    yes, %s (frames are deinterlaced before scaling)\n",
                decode::describe_field_order(v.field_order));
  } else {
    std::printf("interlaced:    %s\n", v.field_order.empty() ? "not stated" : "no (progressive)");
  }
  std::printf("audio:         %s\n", v.has_audio ? v.audio_codec.c_str() : "none");
}

struct FramesArgs {
  std::string video;
  std::optional<double> fps;
  std::optional<int> count;
  std::string at;
  std::string out;
  std::string size;
  bool fit = false;
  bool keyframes_only = false;
  std::optional<double> fast;
  std::string format = "jpg";
  int quality = 90;
  int threads = 0;
  std::string hwaccel = "none";
  bool null_terminated = false;  // -0
};

// `text` with its line breaks shown as "\n", for a message about them.
std::string show_line_breaks(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<double> parse_times(const std::string& list) {
  std::vector<double> times;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    size_t used = 0;
    double t = 0;
    try {
      t = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || !std::isfinite(t)) {
      throw Error(ErrorKind::kInvalidArgument, "--at: '" + item + "' is not a time in seconds");
    }
    if (t < 0) {
      throw Error(ErrorKind::kInvalidArgument,
                  "--at: " + item + " is before the start of the video (times count from 0)");
    }
    times.push_back(t);
  }
  if (times.empty()) throw Error(ErrorKind::kInvalidArgument, "--at: no times given");
  std::sort(times.begin(), times.end());
  return times;
}

void parse_size(const std::string& size, int& width, int& height) {
  const size_t x = size.find('x');
  bool ok = x != std::string::npos && x > 0 && x + 1 < size.size();
  if (ok) {
    try {
      size_t a = 0;
      size_t b = 0;
      width = std::stoi(size.substr(0, x), &a);
      height = std::stoi(size.substr(x + 1), &b);
      ok = a == x && b == size.size() - x - 1 && width >= 0 && height >= 0 && width + height > 0;
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok) {
    throw Error(ErrorKind::kInvalidArgument,
                "--size: '" + size + "' is not WIDTHxHEIGHT (e.g. 384x384; 0 keeps the aspect)");
  }
}

std::string frame_file_name(double time, const std::string& ext) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "t%010.3f", std::max(0.0, time));
  return std::string(buf) + "." + ext;
}

void run_frames(const FramesArgs& a) {
  const int chosen = (a.fps ? 1 : 0) + (a.count ? 1 : 0) + (a.at.empty() ? 0 : 1);
  if (chosen != 1) {
    throw Error(ErrorKind::kInvalidArgument, "frames: give exactly one of --fps, --count or --at");
  }
  if (!a.null_terminated && a.out.find('\n') != std::string::npos) {
    throw Error(ErrorKind::kInvalidArgument,
                "--out '" + show_line_breaks(a.out) +
                    "': the folder name has a line break, which would split the paths printed one "
                    "per line; pass -0 for NUL-terminated paths, or choose another folder");
  }
  if (a.format != "jpg" && a.format != "png") {
    throw Error(ErrorKind::kInvalidArgument, "--format: use jpg or png");
  }
  decode::SamplerOptions options;
  if (!a.size.empty()) parse_size(a.size, options.width, options.height);
  options.resize = a.fit ? decode::Resize::kFit : decode::Resize::kExact;
  if (a.keyframes_only && a.fast) {
    throw Error(ErrorKind::kInvalidArgument,
                "frames: --keyframes-only and --fast exclude each other");
  }
  if (a.keyframes_only) options.mode = decode::SampleMode::kKeyframes;
  if (a.fast) {
    options.mode = decode::SampleMode::kFast;
    options.fast_tolerance = *a.fast;
  }
  options.threads = a.threads;
  options.skip_duplicates = true;  // one file per distinct frame
  // The probe for --fps/--count and the sampler read a file without an index or a stated
  // duration once between them.
  options.index_cache = std::make_shared<decode::MediaIndexCache>();
  if (a.hwaccel == "auto") {
    options.hwaccel = decode::HwAccel::kAuto;
  } else if (a.hwaccel == "vaapi") {
    options.hwaccel = decode::HwAccel::kVaapi;
  } else if (a.hwaccel == "cuda" || a.hwaccel == "nvdec") {
    options.hwaccel = decode::HwAccel::kCuda;
  } else if (a.hwaccel != "none") {
    throw Error(ErrorKind::kInvalidArgument, "--hwaccel: use none, auto, vaapi or cuda");
  }
  options.on_warning = [](const std::string& w) {
    std::fprintf(stderr, "clipmind: warning: %s\n", terminal_safe(w).c_str());
  };
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  if (tty) {
    options.progress = [](const ProgressEvent& e) {
      std::fprintf(stderr, "\rframes: %lld/%lld", static_cast<long long>(e.done),
                   static_cast<long long>(e.total));
      std::fflush(stderr);
    };
  }

  std::vector<double> times;
  if (!a.at.empty()) {
    times = parse_times(a.at);
  } else {
    const decode::VideoInfo info = decode::probe(a.video, options.index_cache.get());
    if (info.duration <= 0) {
      throw Error(ErrorKind::kInvalidInput,
                  a.video + ": the duration is unknown; give the times with --at");
    }
    if (a.fps) {
      if (!(*a.fps > 0) || !std::isfinite(*a.fps)) {
        throw Error(ErrorKind::kInvalidArgument, "--fps must be > 0");
      }
      for (long k = 0;; ++k) {
        const double t = static_cast<double>(k) / *a.fps;
        if (t >= info.duration) break;
        times.push_back(t);
      }
    } else {
      if (*a.count <= 0) throw Error(ErrorKind::kInvalidArgument, "--count must be > 0");
      // The middle of each of `count` equal parts: no frame at the very start or end.
      for (int i = 0; i < *a.count; ++i)
        times.push_back((i + 0.5) * info.duration / *a.count);
    }
  }

  const bool given_times = !a.at.empty();
  const double last_time = times.back();
  decode::FrameSampler sampler(a.video, std::move(times), options);
  // The sampler would quietly give the last frame for a time past the end.
  if (const double duration = sampler.info().duration;
      given_times && duration > 0 && last_time > duration) {
    char text[160];
    std::snprintf(text, sizeof text, ": --at %.3f s is past the end of the video (%.3f s long)",
                  last_time, duration);
    throw Error(ErrorKind::kInvalidArgument, a.video + text);
  }

  const std::filesystem::path out(a.out);
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (!std::filesystem::is_directory(out)) {
    throw Error(ErrorKind::kIo, out.string() + ": cannot create the output folder" +
                                    (ec ? ": " + ec.message() : " (a file is in the way)"));
  }
  decode::ImageOptions image;
  image.format = a.format == "png" ? decode::ImageFormat::kPng : decode::ImageFormat::kJpeg;
  image.jpeg_quality = a.quality;

  // On a terminal the paths are for eyes: control bytes and line breaks are replaced.
  const bool stdout_tty = ::isatty(STDOUT_FILENO) != 0;
  const char terminator = a.null_terminated ? '\0' : '\n';
  std::set<std::string> written;
  int64_t count = 0;
  while (std::optional<decode::Sample> sample = sampler.next()) {
    std::string name = frame_file_name(sample->frame.time, a.format);
    for (int n = 2; written.count(name); ++n) {
      name = frame_file_name(sample->frame.time, "") + std::to_string(n) + "." + a.format;
    }
    written.insert(name);
    const std::filesystem::path path = out / name;
    decode::write_image(sample->frame, path, image);
    const std::string shown =
        stdout_tty ? terminal_safe(path.string(), TextContext::kCell) : path.string();
    std::fwrite(shown.data(), 1, shown.size(), stdout);
    std::fputc(terminator, stdout);
    ++count;
  }
  if (tty) std::fprintf(stderr, "\n");
  if (count == 0) {
    throw Error(ErrorKind::kInvalidInput, a.video + ": no frame could be decoded");
  }
}

}  // namespace

void add_decode_commands(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand("probe",
                                   "Show what a video file contains (container, codec, "
                                   "size, rotation, frame rate, frame count, audio)");
    auto video = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    cmd->add_option("VIDEO", *video, "Video file")->required();
    cmd->add_flag("--json", *json, "Print JSON instead of text");
    cmd->callback([video, json] { print_probe(decode::probe(*video), *json); });
  }
  {
    auto* cmd = app.add_subcommand(
        "frames",
        "Write the frames nearest to chosen times as images named by their time "
        "(tSSSSSS.mmm.jpg, one per distinct frame). The paths go to stdout, one per line and "
        "exact (an --out with a line break needs -0), or shown terminal-safe on a terminal");
    auto a = std::make_shared<FramesArgs>();
    cmd->add_option("VIDEO", a->video, "Video file")->required();
    auto* fps = cmd->add_option("--fps", a->fps, "Times every 1/F seconds from 0");
    auto* count = cmd->add_option("--count", a->count, "N times, the middles of N equal parts");
    auto* at = cmd->add_option("--at", a->at, "Comma-separated times in seconds, e.g. 1.5,30,62");
    fps->excludes(count)->excludes(at);
    count->excludes(at);
    cmd->add_option("--out", a->out, "Output folder (created if missing)")->required();
    cmd->add_option("--size", a->size, "Output size WxH (default: the display size)");
    cmd->add_flag("--fit", a->fit,
                  "Keep the aspect ratio: fit inside --size instead of filling it");
    cmd->add_flag("--keyframes-only", a->keyframes_only,
                  "Nearest keyframe to each time (fast previews)");
    cmd->add_option(
        "--fast", a->fast,
        "Fast mode: a keyframe within this many seconds of each time when there is one");
    cmd->add_option("--format", a->format, "Image format: jpg (default) or png");
    cmd->add_option("--quality", a->quality, "JPEG quality 1..100 (default 90)");
    cmd->add_option("--threads", a->threads, "Decoding threads (default: all cores)");
    cmd->add_option(
        "--hwaccel", a->hwaccel,
        "Hardware decoding: none (default), auto, vaapi or cuda; falls back to software");
    cmd->add_flag("-0,--null", a->null_terminated,
                  "End each printed path with a NUL byte instead of a newline (for xargs -0); "
                  "any --out folder name is then accepted");
    cmd->callback([a] { run_frames(*a); });
  }
}

}  // namespace clipmind::cli
