#include "pipeline/caption_writer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"
#include "pipeline/content_hash.h"

namespace clipmind::pipeline {

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line))
    lines.push_back(line);
  return lines;
}

// Cue blocks ("time line" + text lines), separated by blank lines; SRT blocks start with an
// index line.
bool parses_as_cues(const std::string& text, CaptionFormat format) {
  if (text.empty() || text.back() != '\n') return false;
  const std::vector<std::string> lines = split_lines(text);
  const std::regex srt_time(R"(\d{2,}:\d{2}:\d{2},\d{3} --> \d{2,}:\d{2}:\d{2},\d{3})");
  const std::regex vtt_time(R"(\d{2,}:\d{2}:\d{2}\.\d{3} --> \d{2,}:\d{2}:\d{2}\.\d{3})");
  size_t i = 0;
  if (format == CaptionFormat::kVtt) {
    if (lines.empty() || lines[0] != "WEBVTT") return false;
    i = 1;
  }
  int64_t cues = 0;
  while (i < lines.size()) {
    if (lines[i].empty()) {
      ++i;
      continue;
    }
    if (format == CaptionFormat::kSrt) {
      if (lines[i] != std::to_string(cues + 1)) return false;
      ++i;
    }
    if (i >= lines.size()) return false;
    if (!std::regex_match(lines[i], format == CaptionFormat::kSrt ? srt_time : vtt_time)) {
      return false;
    }
    ++i;
    if (i >= lines.size() || lines[i].empty()) return false;  // a cue needs text
    while (i < lines.size() && !lines[i].empty())
      ++i;
    ++cues;
  }
  return format == CaptionFormat::kVtt || cues > 0;
}

bool parses_as_jsonl(const std::string& text) {
  if (text.empty() || text.back() != '\n') return false;
  for (const std::string& line : split_lines(text)) {
    const auto value = nlohmann::json::parse(line, nullptr, false);
    if (value.is_discarded() || !value.is_object() || !value.contains("start") ||
        !value.contains("end") || !value.contains("text")) {
      return false;
    }
  }
  return true;
}

}  // namespace

CaptionFormat parse_caption_format(std::string_view text) {
  if (text == "srt") return CaptionFormat::kSrt;
  if (text == "vtt" || text == "webvtt") return CaptionFormat::kVtt;
  if (text == "jsonl") return CaptionFormat::kJsonl;
  throw Error(ErrorKind::kInvalidArgument,
              "unknown caption format '" + std::string(text) + "' (srt, vtt or jsonl)");
}

const char* to_string(CaptionFormat format) {
  switch (format) {
    case CaptionFormat::kSrt:
      return "srt";
    case CaptionFormat::kVtt:
      return "vtt";
    case CaptionFormat::kJsonl:
      return "jsonl";
  }
  return "srt";
}

const char* caption_extension(CaptionFormat format) {
  switch (format) {
    case CaptionFormat::kSrt:
      return ".srt";
    case CaptionFormat::kVtt:
      return ".vtt";
    case CaptionFormat::kJsonl:
      return ".jsonl";
  }
  return ".srt";
}

std::string format_caption_time(double seconds, CaptionFormat format) {
  if (!std::isfinite(seconds) || seconds < 0.0) seconds = 0.0;
  const auto ms_total = static_cast<long long>(std::llround(seconds * 1000.0));
  const long long ms = ms_total % 1000;
  const long long s = (ms_total / 1000) % 60;
  const long long m = (ms_total / 60000) % 60;
  const long long h = ms_total / 3600000;
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%02lld:%02lld:%02lld%c%03lld", h, m, s,
                format == CaptionFormat::kSrt ? ',' : '.', ms);
  return buffer;
}

std::string clean_caption_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    // Control characters (a random or confused model emits them) are invisible at best and
    // break players at worst; tabs become spaces, newlines stay.
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f) continue;
    out += c == '\t' ? ' ' : c;
  }
  // "-->" would end a cue's time line; replace until none is left ("--->" needs two passes).
  while (out.find("-->") != std::string::npos) {
    std::string pass;
    pass.reserve(out.size());
    for (size_t i = 0; i < out.size();) {
      if (out.compare(i, 3, "-->") == 0) {
        pass.append("->");
        i += 3;
      } else {
        pass.push_back(out[i++]);
      }
    }
    out.swap(pass);
  }
  // Trim each line and drop empty ones: a blank line would end the cue.
  std::string joined;
  for (const std::string& line : split_lines(out)) {
    const size_t b = line.find_first_not_of(' ');
    if (b == std::string::npos) continue;
    const size_t e = line.find_last_not_of(' ');
    if (!joined.empty()) joined += '\n';
    joined += line.substr(b, e - b + 1);
  }
  return joined.empty() ? "..." : joined;
}

std::string format_captions(const std::vector<Caption>& captions, CaptionFormat format) {
  std::string out;
  if (format == CaptionFormat::kVtt) out += "WEBVTT\n\n";
  int64_t index = 0;
  for (const Caption& c : captions) {
    ++index;
    const double start = std::isfinite(c.start_s) ? std::max(0.0, c.start_s) : 0.0;
    double end = std::isfinite(c.end_s) ? c.end_s : start;
    if (std::llround(end * 1000.0) <= std::llround(start * 1000.0)) end = start + 0.001;
    if (format == CaptionFormat::kJsonl) {
      nlohmann::json line = {{"index", index},
                             {"start", std::round(start * 1000.0) / 1000.0},
                             {"end", std::round(end * 1000.0) / 1000.0},
                             {"text", clean_caption_text(c.text)}};
      out += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      continue;
    }
    if (format == CaptionFormat::kSrt) out += std::to_string(index) + "\n";
    out += format_caption_time(start, format) + " --> " + format_caption_time(end, format) + "\n";
    out += clean_caption_text(c.text) + "\n\n";
  }
  return out;
}

void write_captions(const std::filesystem::path& path, const std::vector<Caption>& captions,
                    CaptionFormat format) {
  write_file_atomically(path, format_captions(captions, format));
}

std::filesystem::path caption_source_record_path(const std::filesystem::path& output) {
  return output.parent_path() / ".clipmind" / (output.filename().string() + ".source");
}

void record_caption_source(const std::filesystem::path& output, const std::filesystem::path& video,
                           const std::string& content_hash) {
  const std::filesystem::path record = caption_source_record_path(output);
  std::error_code ec;
  std::filesystem::create_directories(record.parent_path(), ec);
  if (ec) {
    throw Error(ErrorKind::kIo, record.parent_path().string() + ": cannot create: " + ec.message());
  }
  const std::filesystem::path absolute = std::filesystem::absolute(video, ec);
  const nlohmann::json doc = {{"video", (ec ? video : absolute).lexically_normal().string()},
                              {"hash", content_hash}};
  // The path is for people reading the record (the hash decides): a file name that is not
  // UTF-8 gets replacement characters rather than failing the video.
  write_file_atomically(record,
                        doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

bool caption_output_complete(const std::filesystem::path& output,
                             const std::filesystem::path& video, CaptionFormat format) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(output, ec)) return false;
  const auto out_time = std::filesystem::last_write_time(output, ec);
  if (ec) return false;
  const std::filesystem::path record = caption_source_record_path(output);
  if (std::filesystem::exists(record, ec)) {
    std::string recorded;
    try {
      recorded = nlohmann::json::parse(read_file(record)).at("hash").get<std::string>();
    } catch (const std::exception&) {
      return false;  // a damaged record: redo rather than trust
    }
    try {
      const ContentHashMode mode =
          recorded.starts_with("f1-") ? ContentHashMode::kFull : ContentHashMode::kSampled;
      if (content_hash(video, mode).hex != recorded) return false;
    } catch (const Error&) {
      return false;  // the video cannot be read: let the job report it
    }
  } else {
    const auto video_time = std::filesystem::last_write_time(video, ec);
    if (!ec && video_time > out_time) return false;
  }
  const std::string text = read_file(output);
  return format == CaptionFormat::kJsonl ? parses_as_jsonl(text) : parses_as_cues(text, format);
}

std::filesystem::path caption_output_path(const std::filesystem::path& out_dir,
                                          const std::filesystem::path& video,
                                          CaptionFormat format) {
  return out_dir / (video.stem().string() + caption_extension(format));
}

std::vector<std::filesystem::path> caption_output_paths(
    const std::filesystem::path& out_dir, const std::vector<std::filesystem::path>& videos,
    CaptionFormat format) {
  constexpr int kLastLevel = 3;
  const auto name_at = [](const std::filesystem::path& video, int level) {
    std::string parent = video.parent_path().filename().string();
    if (parent == "." || parent == ".." || parent == "/") parent.clear();
    const std::string prefix = parent.empty() ? "" : parent + "_";
    switch (level) {
      case 0:
        return video.stem().string();
      case 1:
        return prefix + video.stem().string();
      case 2:
        return prefix + video.filename().string();
      default: {
        // FNV-1a: stable across runs and builds, unlike std::hash.
        std::error_code ec;
        const std::filesystem::path absolute = std::filesystem::absolute(video, ec);
        const std::string key = (ec ? video : absolute).lexically_normal().string();
        uint64_t h = 1469598103934665603ULL;
        for (const unsigned char c : key) {
          h ^= c;
          h *= 1099511628211ULL;
        }
        char hex[9];
        std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(h ^ (h >> 32)));
        return prefix + video.filename().string() + "-" + hex;
      }
    }
  };
  std::vector<int> level(videos.size(), 0);
  for (bool changed = true; changed;) {
    changed = false;
    std::map<std::string, std::vector<size_t>> by_name;
    for (size_t i = 0; i < videos.size(); ++i)
      by_name[name_at(videos[i], level[i])].push_back(i);
    for (const auto& [name, users] : by_name) {
      if (users.size() < 2) continue;
      for (const size_t i : users) {
        if (level[i] < kLastLevel) {
          ++level[i];
          changed = true;
        }
      }
    }
  }
  std::vector<std::filesystem::path> out;
  out.reserve(videos.size());
  for (size_t i = 0; i < videos.size(); ++i)
    out.push_back(out_dir / (name_at(videos[i], level[i]) + caption_extension(format)));
  return out;
}

}  // namespace clipmind::pipeline
