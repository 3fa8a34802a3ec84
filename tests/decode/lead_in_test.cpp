// Transport and program streams whose first decodable picture comes late: a recording cut
// inside a GOP (it starts with pictures that need earlier ones), and streams whose sound starts
// before the picture. A time before the first real picture gets that picture, with its true
// time, in every mode, and no warning. The expected pictures and times come from ffprobe.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "tests/decode/decode_test_util.h"
#include <gtest/gtest.h>

#include "decode/frame_sampler.h"
#include "decode/video_info.h"

namespace clipmind::test {
namespace {

namespace fs = std::filesystem;

struct Packet {
  double time = 0;  // pts in seconds, on the file's own clock
  int64_t pos = -1;
  bool key = false;
};

// The video packets of a file in file order, by ffprobe.
std::vector<Packet> ffprobe_packets(const fs::path& file) {
  const CommandResult r =
      run_command({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                   "packet=pts_time,pos,flags", "-of", "csv=p=0", file.string()});
  if (r.exit_code != 0) throw std::runtime_error("ffprobe failed: " + r.err);
  std::vector<Packet> out;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string pts, pos, flags;
    std::getline(fields, pts, ',');
    std::getline(fields, pos, ',');
    std::getline(fields, flags, ',');
    if (pts.empty() || pts == "N/A") continue;
    Packet p;
    p.time = std::stod(pts);
    p.pos = pos == "N/A" ? -1 : std::stoll(pos);
    p.key = flags.find('K') != std::string::npos;
    out.push_back(p);
  }
  return out;
}

// ffprobe's start_time of the file (the earliest stream: where a player's clock starts) or of
// its first video stream.
double ffprobe_start(const fs::path& file, bool video_only) {
  std::vector<std::string> args = {"ffprobe", "-v", "error"};
  if (video_only) args.insert(args.end(), {"-select_streams", "v:0"});
  args.insert(args.end(), {"-show_entries", video_only ? "stream=start_time" : "format=start_time",
                           "-of", "csv=p=0", file.string()});
  const CommandResult r = run_command(args);
  if (r.exit_code != 0) throw std::runtime_error("ffprobe failed: " + r.err);
  return std::stod(r.out);
}

// `source` without its first `from` bytes.
fs::path cut_front(const fs::path& source, int64_t from, const std::string& name) {
  std::ifstream in(source, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const fs::path out = video_dir() / "lead-in" / (name + source.extension().string());
  fs::create_directories(out.parent_path());
  std::ofstream(out, std::ios::binary | std::ios::trunc)
      .write(bytes.data() + from, bytes.size() - from);
  return out;
}

struct CutCase {
  std::string name;
  std::string container;
  std::string codec;
  std::vector<std::string> extra;
  int unit;  // the container's packet size: TS 188 bytes, PS 2048-byte packs
};

void PrintTo(const CutCase& c, std::ostream* out) {
  *out << c.name;
}

class CutInsideAGop : public testing::TestWithParam<CutCase> {};

// The file is cut at the container unit that holds the 6th video packet (a P or B picture of
// the first GOP): it starts with pictures whose references are gone. MPEG-4 part 2 decodes
// such a P picture against nothing and returned it (a wrong picture, with decoding errors).
TEST_P(CutInsideAGop, TimeZeroGetsTheFirstKeyframeWithItsTrueTime) {
  const CutCase& c = GetParam();
  VideoSpec spec;
  spec.name = "lead-in-" + c.name;
  spec.container = c.container;
  spec.codec = c.codec;
  spec.frames = 75;
  spec.gop = 25;
  spec.bframes = 2;
  spec.extra = c.extra;
  const fs::path whole = make_video(spec);
  const std::vector<Packet> packets = ffprobe_packets(whole);
  ASSERT_GT(packets.size(), 30u);
  ASSERT_TRUE(packets[0].key);
  ASSERT_FALSE(packets[5].key);
  ASSERT_GE(packets[5].pos, 0);
  const fs::path cut = cut_front(whole, packets[5].pos / c.unit * c.unit, c.name);

  // The truth, by ffprobe: the first keyframe of the cut file, its index in the whole file
  // (the frame code it shows) and its time on the cut file's clock.
  const std::vector<Packet> left = ffprobe_packets(cut);
  ASSERT_FALSE(left.empty());
  ASSERT_FALSE(left.front().key);
  const auto key = std::find_if(left.begin(), left.end(), [](const Packet& p) { return p.key; });
  ASSERT_NE(key, left.end());
  const double whole_start = ffprobe_start(whole, true);
  const uint32_t key_code = static_cast<uint32_t>(std::lround((key->time - whole_start) * 25));
  const double key_time = key->time - ffprobe_start(cut, false);
  ASSERT_GT(key_code, 0u);
  ASSERT_GT(key_time, 0.1);

  struct Mode {
    decode::SampleMode mode;
    double tolerance;
  };
  for (const Mode m :
       {Mode{decode::SampleMode::kAccurate, 0.0}, Mode{decode::SampleMode::kFast, 0.1},
        Mode{decode::SampleMode::kKeyframes, 0.0}}) {
    SCOPED_TRACE(decode::to_string(m.mode));
    decode::SamplerOptions o;
    o.mode = m.mode;
    o.fast_tolerance = m.tolerance;
    o.threads = 1;
    std::vector<std::string> warnings;
    const auto samples = sample_all(cut, {0.0, 0.1, key_time}, o, &warnings);
    ASSERT_EQ(samples.size(), 3u);
    for (const decode::Sample& s : samples) {
      EXPECT_EQ(read_code(s.frame), std::optional<uint32_t>(key_code)) << "at " << s.requested_time;
      EXPECT_NEAR(s.frame.time, key_time, 1e-3) << "at " << s.requested_time;
    }
    for (const std::string& w : warnings)
      ADD_FAILURE() << "warning: " << w;
  }
  // Later frames are themselves, on the same clock.
  const auto later = sample_all(cut, {key_time + 0.4});
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(read_code(later[0].frame), std::optional<uint32_t>(key_code + 10));
  EXPECT_NEAR(later[0].frame.time, key_time + 0.4, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(
    All, CutInsideAGop,
    testing::Values(
        CutCase{"h264-ts", "ts", "libx264", {"-preset", "veryfast", "-sc_threshold", "0"}, 188},
        CutCase{"mpeg4-ts", "ts", "mpeg4", {"-q:v", "3"}, 188},
        CutCase{"mpeg2-ps",
                "mpg",
                "mpeg2video",
                {"-b:v", "8M", "-minrate", "8M", "-maxrate", "8M", "-bufsize", "2M",
                 "-sc_threshold", "1000000000"},
                2048}),
    [](const testing::TestParamInfo<CutCase>& info) {
      std::string name = info.param.name;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

// A transport stream cut after its only keyframe (one GOP for the whole file) flags no
// keyframe at all: it is decoded from its first packet as it is (MPEG-4 part 2 then shows the
// changes against a grey picture), rather than every packet being dropped in search of a
// keyframe and no frame returned.
TEST(LeadIn, AStreamWithoutKeyframesIsDecodedAsItIs) {
  VideoSpec spec;
  spec.name = "one-gop-mpeg4";
  spec.container = "ts";
  spec.codec = "mpeg4";
  spec.frames = 50;
  spec.gop = 1000;
  spec.bframes = 0;
  // The decoder configuration (VOL header) repeated in every packet, so that the cut file
  // still says what it holds.
  spec.extra = {"-q:v", "3", "-flags", "+global_header", "-bsf:v", "dump_extra=freq=all"};
  const fs::path whole = make_video(spec);
  const std::vector<Packet> packets = ffprobe_packets(whole);
  ASSERT_GT(packets.size(), 20u);
  const fs::path cut = cut_front(whole, packets[10].pos / 188 * 188, "one-gop-mpeg4");
  const std::vector<Packet> left = ffprobe_packets(cut);
  ASSERT_GT(left.size(), 30u);
  ASSERT_TRUE(std::none_of(left.begin(), left.end(), [](const Packet& p) { return p.key; }));

  const decode::VideoInfo info = decode::probe(cut);
  std::vector<double> times;
  for (int k = 0; k * 0.2 < info.duration - 0.1; ++k)
    times.push_back(k * 0.2);
  ASSERT_GT(times.size(), 5u);
  const auto samples = sample_all(cut, times);
  ASSERT_EQ(samples.size(), times.size());
  for (const decode::Sample& s : samples)
    EXPECT_NEAR(s.frame.time, s.requested_time, 0.021);
}

// The sound starts 2 s before the picture in a transport and a program stream: time 0 gets
// the first picture, at its time on the player's clock (which starts with the sound).
TEST(AudioLeadIn, TimeZeroGetsTheFirstPictureInTsAndPs) {
  for (const std::string container : {"ts", "mpg"}) {
    SCOPED_TRACE(container);
    VideoSpec spec;
    spec.name = "sound-first";
    spec.container = container;
    spec.codec = container == "ts" ? "libx264" : "mpeg2video";
    spec.audio = true;
    spec.bframes = 2;
    spec.extra = {"-vf", "setpts=PTS+2/TB"};
    if (container == "mpg") spec.extra.insert(spec.extra.end(), {"-c:a", "mp2", "-b:v", "4M"});
    const fs::path path = make_video(spec);
    const double first = ffprobe_start(path, true) - ffprobe_start(path, false);
    ASSERT_NEAR(first, 2.0, 0.1);  // the file is what the test means

    const decode::VideoInfo info = decode::probe(path);
    EXPECT_NEAR(info.start_time, first, 1e-3);
    EXPECT_NEAR(info.duration, first + spec.frames / 25.0, 1e-3);
    for (const decode::SampleMode mode : {decode::SampleMode::kAccurate, decode::SampleMode::kFast,
                                          decode::SampleMode::kKeyframes}) {
      SCOPED_TRACE(decode::to_string(mode));
      decode::SamplerOptions o;
      o.mode = mode;
      o.fast_tolerance = 0.1;
      std::vector<std::string> warnings;
      const auto samples = sample_all(path, {0.0, 1.0, first}, o, &warnings);
      ASSERT_EQ(samples.size(), 3u);
      for (const decode::Sample& s : samples) {
        EXPECT_EQ(read_code(s.frame), std::optional<uint32_t>(0u)) << "at " << s.requested_time;
        EXPECT_NEAR(s.frame.time, first, 1e-3) << "at " << s.requested_time;
      }
      for (const std::string& w : warnings)
        ADD_FAILURE() << "warning: " << w;
    }
  }
}

}  // namespace
}  // namespace clipmind::test
