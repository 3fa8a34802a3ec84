// Caption writers against hand-written expected files, and the resume check.
#include "pipeline/caption_writer.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/support/work_dir.h"
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "pipeline/content_hash.h"

namespace clipmind::pipeline {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  return test::fresh_work_dir(fs::path("pipeline_captions") / name);
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::vector<Caption> kCaptions = {
    {0.0, 4.5, "A man walks in."},
    {4.5, 3725.25, "He sits down --> and reads.\n\n  A dog barks.  "},
    {3725.25, 3725.25, "   "},
};

TEST(CaptionWriter, SrtMatchesTheHandWrittenFile) {
  EXPECT_EQ(format_captions(kCaptions, CaptionFormat::kSrt),
            "1\n00:00:00,000 --> 00:00:04,500\nA man walks in.\n\n"
            "2\n00:00:04,500 --> 01:02:05,250\nHe sits down -> and reads.\nA dog barks.\n\n"
            "3\n01:02:05,250 --> 01:02:05,251\n...\n\n");
}

TEST(CaptionWriter, VttMatchesTheHandWrittenFile) {
  EXPECT_EQ(format_captions(kCaptions, CaptionFormat::kVtt),
            "WEBVTT\n\n"
            "00:00:00.000 --> 00:00:04.500\nA man walks in.\n\n"
            "00:00:04.500 --> 01:02:05.250\nHe sits down -> and reads.\nA dog barks.\n\n"
            "01:02:05.250 --> 01:02:05.251\n...\n\n");
}

TEST(CaptionWriter, JsonlMatchesTheHandWrittenFile) {
  EXPECT_EQ(format_captions({{1.25, 2.5, "Say \"hi\"\tnow"}}, CaptionFormat::kJsonl),
            "{\"end\":2.5,\"index\":1,\"start\":1.25,\"text\":\"Say \\\"hi\\\" now\"}\n");
}

TEST(CaptionWriter, ControlCharactersNeverReachTheFile) {
  const std::vector<Caption> captions = {
      {0.0, 2.0, "A\x06 dog\x1b[31m\tbarks\x7f.\nNext\x01 line"}};
  EXPECT_EQ(format_captions(captions, CaptionFormat::kSrt),
            "1\n00:00:00,000 --> 00:00:02,000\nA dog[31m barks.\nNext line\n\n");
}

TEST(CaptionWriter, TimeFormatting) {
  EXPECT_EQ(format_caption_time(0.0005, CaptionFormat::kSrt), "00:00:00,001");
  EXPECT_EQ(format_caption_time(59.9996, CaptionFormat::kVtt), "00:01:00.000");
  EXPECT_EQ(format_caption_time(-3, CaptionFormat::kSrt), "00:00:00,000");
  EXPECT_EQ(format_caption_time(100 * 3600.0, CaptionFormat::kSrt), "100:00:00,000");
}

TEST(CaptionWriter, FormatsParseAndExtensions) {
  EXPECT_EQ(parse_caption_format("vtt"), CaptionFormat::kVtt);
  EXPECT_THROW(parse_caption_format("ass"), Error);
  EXPECT_STREQ(caption_extension(CaptionFormat::kJsonl), ".jsonl");
  EXPECT_EQ(caption_output_path("/out", "/videos/a/clip.mp4", CaptionFormat::kSrt),
            fs::path("/out/clip.srt"));
}

// Every video of a batch gets its own output, however names clash, and a name depends only on
// the videos that share it.
TEST(CaptionWriter, BatchOutputNamesAreAllDifferent) {
  const auto names = [](const std::vector<fs::path>& videos) {
    std::vector<std::string> out;
    for (const fs::path& p : caption_output_paths("/out", videos, CaptionFormat::kSrt)) {
      EXPECT_EQ(p.parent_path(), fs::path("/out"));
      out.push_back(p.filename().string());
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names({"/v/a/clip.mp4", "/v/b/other.mp4"}), (V{"clip.srt", "other.srt"}));
  // Same stem in two folders: the folder is prefixed (only for the clashing ones).
  EXPECT_EQ(names({"/v/a/clip.mp4", "/v/b/clip.mp4", "/v/b/x.mp4"}),
            (V{"a_clip.srt", "b_clip.srt", "x.srt"}));
  // Same stem in one folder: the extension is kept.
  EXPECT_EQ(names({"/v/x/a.avi", "/v/x/a.mkv", "/v/x/a.mp4"}),
            (V{"x_a.avi.srt", "x_a.mkv.srt", "x_a.mp4.srt"}));
  // A prefixed name equal to another video's plain stem escalates both.
  const V mixed = names({"/v/x/a.mp4", "/v/y/a.mp4", "/v/z/x_a.mp4"});
  EXPECT_EQ(std::set<std::string>(mixed.begin(), mixed.end()).size(), 3u);
  // Same folder name and file name in two trees: a path hash tells them apart, stably.
  const V deep = names({"/v/2024/cam/a.mp4", "/v/2025/cam/a.mp4"});
  ASSERT_EQ(deep.size(), 2u);
  EXPECT_NE(deep[0], deep[1]);
  EXPECT_TRUE(deep[0].starts_with("cam_a.mp4-") && deep[0].ends_with(".srt")) << deep[0];
  EXPECT_EQ(names({"/v/2024/cam/a.mp4", "/v/2025/cam/a.mp4"}), deep);
  // A relative path without a folder.
  EXPECT_EQ(names({"a.mp4", "a.mkv"}), (V{"a.mp4.srt", "a.mkv.srt"}));
}

TEST(CaptionWriter, WritesAtomicallyAndResumeSeesCompleteOutputs) {
  const fs::path dir = fresh_dir("resume");
  const fs::path video = dir / "clip.mp4";
  std::ofstream(video) << "video bytes";
  fs::last_write_time(video, fs::file_time_type::clock::now() - std::chrono::hours(1));
  for (const CaptionFormat format :
       {CaptionFormat::kSrt, CaptionFormat::kVtt, CaptionFormat::kJsonl}) {
    const fs::path out = caption_output_path(dir, video, format);
    EXPECT_FALSE(caption_output_complete(out, video, format));
    write_captions(out, kCaptions, format);
    EXPECT_EQ(read(out), format_captions(kCaptions, format));
    EXPECT_TRUE(caption_output_complete(out, video, format)) << to_string(format);
    // A cut-off file (e.g. written by something else, or by an older version) is redone.
    const std::string text = read(out);
    std::ofstream(out, std::ios::binary) << text.substr(0, text.size() - 3);
    EXPECT_FALSE(caption_output_complete(out, video, format)) << to_string(format);
    write_captions(out, kCaptions, format);
    // A video changed after its captions were written is redone.
    fs::last_write_time(out, fs::file_time_type::clock::now() - std::chrono::hours(2));
    EXPECT_FALSE(caption_output_complete(out, video, format));
  }
  for (const auto& f : fs::directory_iterator(dir)) {
    EXPECT_EQ(f.path().string().find(".part-"), std::string::npos) << f.path();
  }
}

// The source record decides by content: a video replaced by other bytes with an older date is
// redone, a video only touched is not; a damaged record means redo.
TEST(CaptionWriter, SourceRecordTellsAReplacedVideoFromATouchedOne) {
  const fs::path dir = fresh_dir("source-record");
  const fs::path video = dir / "clip.mp4";
  std::ofstream(video) << "the first video's bytes";
  const fs::path out = caption_output_path(dir / "out", video, CaptionFormat::kSrt);
  fs::create_directories(out.parent_path());
  write_captions(out, kCaptions, CaptionFormat::kSrt);
  record_caption_source(out, video, content_hash(video).hex);
  ASSERT_TRUE(fs::exists(caption_source_record_path(out)));
  EXPECT_TRUE(caption_output_complete(out, video, CaptionFormat::kSrt));
  // Touched: newer than the output, same bytes.
  fs::last_write_time(video, fs::file_time_type::clock::now() + std::chrono::hours(1));
  EXPECT_TRUE(caption_output_complete(out, video, CaptionFormat::kSrt));
  // Replaced by other bytes with an old date (cp -p).
  std::ofstream(video, std::ios::trunc) << "another video entirely";
  fs::last_write_time(video, fs::file_time_type::clock::now() - std::chrono::hours(24));
  EXPECT_FALSE(caption_output_complete(out, video, CaptionFormat::kSrt));
  record_caption_source(out, video, content_hash(video).hex);
  EXPECT_TRUE(caption_output_complete(out, video, CaptionFormat::kSrt));
  std::ofstream(caption_source_record_path(out), std::ios::trunc) << "{broken";
  EXPECT_FALSE(caption_output_complete(out, video, CaptionFormat::kSrt));
  // A video whose file name is not UTF-8 still gets its record.
  const fs::path latin1 = dir / "caf\xe9.mp4";
  std::ofstream(latin1) << "latin-1 named video";
  const fs::path latin1_out = caption_output_path(dir / "out", latin1, CaptionFormat::kSrt);
  write_captions(latin1_out, kCaptions, CaptionFormat::kSrt);
  record_caption_source(latin1_out, latin1, content_hash(latin1).hex);
  EXPECT_TRUE(caption_output_complete(latin1_out, latin1, CaptionFormat::kSrt));
  // A record in the full-hash mode (cache.hash = full) is checked in that mode.
  record_caption_source(latin1_out, latin1, content_hash(latin1, ContentHashMode::kFull).hex);
  EXPECT_TRUE(caption_output_complete(latin1_out, latin1, CaptionFormat::kSrt));
  // No record (an older version's output): the dates decide, as before.
  fs::remove(caption_source_record_path(out));
  EXPECT_TRUE(caption_output_complete(out, video, CaptionFormat::kSrt));
}

TEST(CaptionWriter, WriteErrorNamesTheFile) {
  const fs::path out = fs::path(CLIPMIND_TEST_WORK_DIR) / "no-such-dir" / "x.srt";
  try {
    write_captions(out, kCaptions, CaptionFormat::kSrt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("x.srt"), std::string::npos);
  }
}

}  // namespace
}  // namespace clipmind::pipeline
