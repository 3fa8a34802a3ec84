#include "tests/decode/test_videos.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libswscale/swscale.h>
}

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "decode/frame.h"

extern char** environ;

namespace clipmind::test {
namespace {

uint32_t check_nibble(uint32_t index) {
  uint32_t sum = 0xA;
  for (int i = 0; i < 4; ++i)
    sum += ((index >> (4 * i)) & 0xF) * (2 * i + 1);
  return sum & 0xF;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string spec_key(const VideoSpec& s) {
  std::ostringstream k;
  k << "v4|" << s.container << '|' << s.codec << '|' << s.width << 'x' << s.height << '|'
    << s.frames << '|' << s.fps << '|' << s.gop << '|' << s.bframes << '|' << s.rotation << '|'
    << s.audio << '|' << s.pix_fmt << '|';
  for (const RateSegment& seg : s.vfr)
    k << seg.frames << '@' << seg.fps << ',';
  for (const std::string& e : s.extra)
    k << e << ' ';
  return k.str();
}

// Rotates the display picture back to how it is stored (the file says: turn it clockwise by
// `rotation` to display). Derived independently of decode/.
void to_stored(const std::vector<uint8_t>& display, int dw, int dh, int rotation,
               std::vector<uint8_t>& stored) {
  stored.resize(display.size());
  const int sw = (rotation == 90 || rotation == 270) ? dh : dw;
  const int sh = (rotation == 90 || rotation == 270) ? dw : dh;
  for (int i = 0; i < sh; ++i) {
    for (int j = 0; j < sw; ++j) {
      int r = i;
      int c = j;
      if (rotation == 90) {
        r = j;
        c = sh - 1 - i;
      } else if (rotation == 180) {
        r = sh - 1 - i;
        c = sw - 1 - j;
      } else if (rotation == 270) {
        r = sw - 1 - j;
        c = i;
      }
      std::memcpy(&stored[(static_cast<size_t>(i) * sw + j) * 3],
                  &display[(static_cast<size_t>(r) * dw + c) * 3], 3);
    }
  }
}

// Copies `in` to `out` adding a display matrix that says "turn clockwise by rotation".
void remux_with_rotation(const std::filesystem::path& in, const std::filesystem::path& out,
                         int rotation, const std::string& format) {
  AVFormatContext* ic = nullptr;
  if (avformat_open_input(&ic, in.c_str(), nullptr, nullptr) < 0) {
    throw std::runtime_error("remux: cannot open " + in.string());
  }
  avformat_find_stream_info(ic, nullptr);
  AVFormatContext* oc = nullptr;
  avformat_alloc_output_context2(&oc, nullptr, format.c_str(), out.c_str());
  if (!oc) throw std::runtime_error("remux: no muxer " + format);
  for (unsigned i = 0; i < ic->nb_streams; ++i) {
    AVStream* st = avformat_new_stream(oc, nullptr);
    avcodec_parameters_copy(st->codecpar, ic->streams[i]->codecpar);
    st->codecpar->codec_tag = 0;
    st->time_base = ic->streams[i]->time_base;
    if (ic->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
      auto* matrix = reinterpret_cast<int32_t*>(
          av_stream_new_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, sizeof(int32_t) * 9));
      av_display_rotation_set(matrix, rotation);  // clockwise, unlike av_display_rotation_get()
    }
  }
  if (avio_open(&oc->pb, out.c_str(), AVIO_FLAG_WRITE) < 0) {
    throw std::runtime_error("remux: cannot write " + out.string());
  }
  if (avformat_write_header(oc, nullptr) < 0) throw std::runtime_error("remux: header failed");
  AVPacket* pkt = av_packet_alloc();
  while (av_read_frame(ic, pkt) >= 0) {
    av_packet_rescale_ts(pkt, ic->streams[pkt->stream_index]->time_base,
                         oc->streams[pkt->stream_index]->time_base);
    pkt->pos = -1;
    av_interleaved_write_frame(oc, pkt);
  }
  av_write_trailer(oc);
  av_packet_free(&pkt);
  avio_closep(&oc->pb);
  avformat_free_context(oc);
  avformat_close_input(&ic);
}

// Holds an exclusive lock on `<path>.lock` so that parallel tests make a file once.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path) {
    const std::string lock = path.string() + ".lock";
    fd_ = ::open(lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

std::string audio_codec_for(const std::string& container) {
  if (container == "webm" || container == "mkv") return "libopus";
  if (container == "avi") return "libmp3lame";
  return "aac";
}

}  // namespace

void draw_code(uint8_t* rgb, int width, int height, size_t stride, uint32_t index) {
  const uint32_t bits = (index & 0xFFFF) | (check_nibble(index & 0xFFFF) << 16);
  for (int y = 0; y < height; ++y) {
    const int row = std::min(kCodeRows - 1, y * kCodeRows / height);
    uint8_t* line = rgb + static_cast<size_t>(y) * stride;
    for (int x = 0; x < width; ++x) {
      const int col = std::min(kCodeColumns - 1, x * kCodeColumns / width);
      const int bit = row * kCodeColumns + col;
      const uint8_t v = ((bits >> bit) & 1) ? 255 : 0;
      line[3 * x] = v;
      line[3 * x + 1] = v;
      line[3 * x + 2] = v;
    }
  }
}

std::optional<uint32_t> read_code(const uint8_t* rgb, int width, int height, size_t stride) {
  if (width < kCodeColumns * 2 || height < kCodeRows * 2) return std::nullopt;
  uint32_t bits = 0;
  for (int row = 0; row < kCodeRows; ++row) {
    for (int col = 0; col < kCodeColumns; ++col) {
      // The middle half of the cell: away from edges blurred by compression and scaling.
      const double x0 = (col + 0.25) * width / kCodeColumns;
      const double x1 = (col + 0.75) * width / kCodeColumns;
      const double y0 = (row + 0.25) * height / kCodeRows;
      const double y1 = (row + 0.75) * height / kCodeRows;
      int64_t sum = 0;
      int64_t n = 0;
      for (int y = static_cast<int>(std::ceil(y0)); y < static_cast<int>(std::ceil(y1)); ++y) {
        const uint8_t* line = rgb + static_cast<size_t>(y) * stride;
        for (int x = static_cast<int>(std::ceil(x0)); x < static_cast<int>(std::ceil(x1)); ++x) {
          sum += line[3 * x] + line[3 * x + 1] + line[3 * x + 2];
          n += 3;
        }
      }
      if (n == 0) return std::nullopt;
      if (sum / n >= 128) bits |= 1u << (row * kCodeColumns + col);
    }
  }
  const uint32_t index = bits & 0xFFFF;
  if ((bits >> 16) != check_nibble(index)) return std::nullopt;
  return index;
}

std::optional<uint32_t> read_code(const decode::Frame& frame) {
  return read_code(frame.rgb.data(), frame.width, frame.height, frame.stride());
}

std::filesystem::path video_dir() {
  // Another build tree (the sanitizer build of scripts/test.sh) may share the generated videos:
  // they depend only on their spec and the ffmpeg CLI.
  const char* shared = std::getenv("CLIPMIND_TEST_VIDEO_DIR");
  std::filesystem::path dir = shared && *shared
                                  ? std::filesystem::path(shared)
                                  : std::filesystem::path(CLIPMIND_TEST_WORK_DIR) / "videos";
  std::filesystem::create_directories(dir);
  return dir;
}

std::vector<double> frame_times(const VideoSpec& spec) {
  std::vector<double> times;
  if (spec.vfr.empty()) {
    for (int i = 0; i < spec.frames; ++i)
      times.push_back(static_cast<double>(i) / spec.fps);
    return times;
  }
  int64_t ticks = 0;  // 1/100 s
  for (const RateSegment& seg : spec.vfr) {
    for (int i = 0; i < seg.frames; ++i) {
      times.push_back(static_cast<double>(ticks) / 100.0);
      ticks += 100 / seg.fps;
    }
  }
  return times;
}

std::filesystem::path make_video(const VideoSpec& spec, std::filesystem::path dir) {
  if (dir.empty()) dir = video_dir();
  std::filesystem::create_directories(dir);
  const std::string key = spec_key(spec);
  const size_t hash = std::hash<std::string>{}(key);
  std::ostringstream stem;
  stem << spec.name << '-' << std::hex << (hash & 0xFFFFFFFF);
  const std::filesystem::path path = dir / (stem.str() + "." + spec.container);
  if (std::filesystem::exists(path)) return path;
  FileLock lock(path);
  if (std::filesystem::exists(path)) return path;

  const std::vector<double> times = frame_times(spec);
  const int count = static_cast<int>(times.size());
  const double duration =
      times.empty() ? 0.0 : times.back() + (spec.vfr.empty() ? 1.0 / spec.fps : 0.1);
  const bool quarter = spec.rotation == 90 || spec.rotation == 270;
  const int sw = quarter ? spec.height : spec.width;
  const int sh = quarter ? spec.width : spec.height;
  const std::filesystem::path encoded = dir / (stem.str() + ".enc." + spec.container);
  const std::filesystem::path log = dir / (stem.str() + ".log");

  std::ostringstream cmd;
  cmd << "ffmpeg -nostdin -hide_banner -loglevel error -y -f rawvideo -pix_fmt rgb24 -s " << sw
      << 'x' << sh << " -framerate " << (spec.vfr.empty() ? spec.fps : 100) << " -i -";
  if (spec.audio) {
    cmd << " -f lavfi -i "
        << quote("sine=frequency=440:sample_rate=48000:duration=" + std::to_string(duration));
  }
  if (!spec.vfr.empty()) {
    std::string expr;
    std::string closing;
    int first = 0;
    int64_t base = 0;
    for (size_t i = 0; i < spec.vfr.size(); ++i) {
      const RateSegment& seg = spec.vfr[i];
      const std::string piece = std::to_string(base) + "+(N-" + std::to_string(first) + ")*" +
                                std::to_string(100 / seg.fps);
      if (i + 1 < spec.vfr.size()) {
        expr += "if(lt(N," + std::to_string(first + seg.frames) + ")," + piece + ",";
        closing += ")";
      } else {
        expr += piece;
      }
      base += static_cast<int64_t>(seg.frames) * (100 / seg.fps);
      first += seg.frames;
    }
    cmd << " -vf " << quote("setpts='" + expr + closing + "'") << " -fps_mode passthrough";
  }
  cmd << " -map 0:v";
  if (spec.audio) cmd << " -map 1:a -c:a " << audio_codec_for(spec.container);
  cmd << " -c:v " << spec.codec << " -pix_fmt " << spec.pix_fmt;
  if (spec.gop > 0) cmd << " -g " << spec.gop;
  if (spec.bframes >= 0) cmd << " -bf " << spec.bframes;
  if (spec.codec == "libx265") cmd << " -x265-params log-level=error";
  if (spec.codec == "libsvtav1") cmd << " -svtav1-params " << quote("tune=0");
  for (const std::string& e : spec.extra)
    cmd << ' ' << quote(e);
  cmd << ' ' << quote(encoded.string()) << " 2>" << quote(log.string()) << " >/dev/null";

  FILE* pipe = ::popen(cmd.str().c_str(), "w");
  if (!pipe) throw std::runtime_error("cannot run ffmpeg: " + cmd.str());
  std::vector<uint8_t> display(static_cast<size_t>(spec.width) * spec.height * 3);
  std::vector<uint8_t> stored;
  bool write_failed = false;
  for (int i = 0; i < count && !write_failed; ++i) {
    draw_code(display.data(), spec.width, spec.height, static_cast<size_t>(spec.width) * 3,
              static_cast<uint32_t>(i));
    to_stored(display, spec.width, spec.height, spec.rotation, stored);
    write_failed = std::fwrite(stored.data(), 1, stored.size(), pipe) != stored.size();
  }
  const int status = ::pclose(pipe);
  if (write_failed || status != 0) {
    throw std::runtime_error("ffmpeg failed making " + path.string() + ":\n" + cmd.str() + "\n" +
                             read_text(log));
  }
  const std::filesystem::path part = dir / (stem.str() + ".part." + spec.container);
  if (spec.rotation != 0) {
    remux_with_rotation(encoded, part, spec.rotation, spec.container == "mov" ? "mov" : "mp4");
    std::filesystem::remove(encoded);
  } else {
    std::filesystem::rename(encoded, part);
  }
  std::filesystem::rename(part, path);  // appears complete or not at all
  std::filesystem::remove(log);
  return path;
}

std::filesystem::path make_audio_only(const std::string& container, std::filesystem::path dir) {
  if (dir.empty()) dir = video_dir();
  const std::filesystem::path path = dir / ("audio-only." + container);
  if (std::filesystem::exists(path)) return path;
  FileLock lock(path);
  if (std::filesystem::exists(path)) return path;
  const std::filesystem::path part = dir / ("audio-only.part." + container);
  CommandResult r = run_command({"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                                 "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a",
                                 audio_codec_for(container), part.string()});
  if (r.exit_code != 0) throw std::runtime_error("ffmpeg failed making audio: " + r.err);
  std::filesystem::rename(part, path);
  return path;
}

CommandResult ffmpeg_lavfi(const std::string& source, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ffmpeg", "-nostdin", "-v", "error", "-y",
                                   "-f",     "lavfi",    "-i", source};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

CommandResult run_command(const std::vector<std::string>& argv) {
  char out_name[] = "/tmp/clipmind-test-outXXXXXX";
  char err_name[] = "/tmp/clipmind-test-errXXXXXX";
  const int out_fd = ::mkstemp(out_name);
  const int err_fd = ::mkstemp(err_name);
  if (out_fd < 0 || err_fd < 0) throw std::runtime_error("run_command: mkstemp failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawn = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  CommandResult result;
  if (spawn == 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  } else {
    result.err = std::string("cannot start ") + argv[0] + ": " + std::strerror(spawn);
  }
  ::close(out_fd);
  ::close(err_fd);
  result.out = read_text(out_name);
  result.err += read_text(err_name);
  ::unlink(out_name);
  ::unlink(err_name);
  return result;
}

CommandResult mux_two_video_streams(const std::filesystem::path& first,
                                    const std::filesystem::path& second,
                                    const std::filesystem::path& out) {
  return run_command({"ffmpeg",
                      "-nostdin",
                      "-v",
                      "error",
                      "-y",
                      "-i",
                      first.string(),
                      "-i",
                      second.string(),
                      "-map",
                      "0:v",
                      "-map",
                      "1:v",
                      "-c",
                      "copy",
                      "-disposition:v:0",
                      "default",
                      "-disposition:v:1",
                      "0",
                      out.string()});
}

RgbImage read_image_rgb(const std::filesystem::path& path) {
  // FFmpeg's own image decoders, called directly (no process per image): independent of the
  // decode/ code under test.
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) {
    throw std::runtime_error("cannot open image " + path.string());
  }
  struct Closer {
    AVFormatContext*& f;
    AVCodecContext* c = nullptr;
    AVPacket* p = av_packet_alloc();
    AVFrame* fr = av_frame_alloc();
    SwsContext* sws = nullptr;
    ~Closer() {
      sws_freeContext(sws);
      av_frame_free(&fr);
      av_packet_free(&p);
      avcodec_free_context(&c);
      avformat_close_input(&f);
    }
  } own{fmt};
  if (avformat_find_stream_info(fmt, nullptr) < 0 || fmt->nb_streams < 1) {
    throw std::runtime_error("no image in " + path.string());
  }
  const AVCodecParameters* par = fmt->streams[0]->codecpar;
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  own.c = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(own.c, par);
  if (!codec || avcodec_open2(own.c, codec, nullptr) < 0) {
    throw std::runtime_error("cannot decode " + path.string());
  }
  bool got = false;
  while (!got && av_read_frame(fmt, own.p) >= 0) {
    avcodec_send_packet(own.c, own.p);
    av_packet_unref(own.p);
    got = avcodec_receive_frame(own.c, own.fr) == 0;
  }
  if (!got) {
    avcodec_send_packet(own.c, nullptr);
    got = avcodec_receive_frame(own.c, own.fr) == 0;
  }
  if (!got) throw std::runtime_error("no picture decoded from " + path.string());
  RgbImage image;
  image.width = own.fr->width;
  image.height = own.fr->height;
  image.rgb.resize(static_cast<size_t>(image.width) * image.height * 3);
  own.sws = sws_getContext(image.width, image.height, static_cast<AVPixelFormat>(own.fr->format),
                           image.width, image.height, AV_PIX_FMT_RGB24,
                           SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr,
                           nullptr);
  if (!own.sws) throw std::runtime_error("cannot convert " + path.string());
  uint8_t* dst[4] = {image.rgb.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {image.width * 3, 0, 0, 0};
  sws_scale(own.sws, own.fr->data, own.fr->linesize, 0, image.height, dst, dst_stride);
  return image;
}

int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

bool reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  if (!clear) return false;
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

}  // namespace clipmind::test
