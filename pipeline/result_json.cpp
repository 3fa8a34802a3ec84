#include "pipeline/result_json.h"

#include <cmath>

#include <nlohmann/json.hpp>

namespace clipmind::pipeline {

using nlohmann::json;

namespace {

// Seconds rounded to the millisecond keep documents readable and stable.
double ms(double seconds) {
  return std::round(seconds * 1000.0) / 1000.0;
}

}  // namespace

json to_json(const Moment& m) {
  return {{"start", ms(m.start_s)}, {"end", ms(m.end_s)}, {"is_range", m.is_range},
          {"clamped", m.clamped},   {"text", m.text},     {"char_begin", m.char_begin},
          {"char_end", m.char_end}};
}

json to_json(const TokenCounts& t) {
  json j = {{"frames_planned", t.frames_planned},
            {"frames", t.frames},
            {"frames_from_cache", t.frames_from_cache},
            {"frames_encoded", t.frames_encoded},
            {"frames_reused", t.frames_reused},
            {"visual_before_merge", t.visual_before_merge},
            {"visual_after_merge", t.visual_after_merge},
            {"separator_tokens", t.separator_tokens},
            {"header_tokens", t.header_tokens},
            {"prompt_tokens", t.prompt_tokens},
            {"prefill_tokens", t.prefill_tokens},
            {"generated_tokens", t.generated_tokens},
            {"inner",
             {{"method", t.inner_method},
              {"layer", t.inner_layer},
              {"tokens_after", t.tokens_after_inner}}},
            {"baseline_prompt_tokens", t.baseline_prompt_tokens},
            {"prefill_flops", t.prefill_flops},
            {"baseline_prefill_flops", t.baseline_prefill_flops}};
  j["prefill_flops_ratio"] = t.baseline_prefill_flops > 0
                                 ? json(t.prefill_flops / t.baseline_prefill_flops)
                                 : json(nullptr);
  return j;
}

json to_json(const std::vector<StageTiming>& timings) {
  json j = json::object();
  for (const StageTiming& s : timings)
    j[s.stage] = ms(s.seconds);
  return j;
}

json to_json(const PreparedSummary& p) {
  json video = {{"path", p.video.path.string()},
                {"duration", ms(p.video.duration_s)},
                {"width", p.video.width},
                {"height", p.video.height},
                {"fps", p.video.fps},
                {"frame_count", p.video.frame_count},
                {"codec", p.video.codec},
                {"content_hash", p.video.content_hash}};
  if (p.video.header_duration_s > 0) video["header_duration"] = ms(p.video.header_duration_s);
  json frames = json::array();
  for (const SelectedFrame& f : p.frames) {
    frames.push_back({{"requested_time", ms(f.requested_time)},
                      {"time", ms(f.time)},
                      {"grid", f.grid},
                      {"from_cache", f.from_cache},
                      {"reused", f.reused}});
  }
  json clips = json::array();
  for (const SelectedClip& c : p.clips) {
    clips.push_back({{"start", ms(c.t_begin)},
                     {"end", ms(c.t_end)},
                     {"frames", c.frames},
                     {"grid", c.grid},
                     {"relevance", c.relevance}});
  }
  json segments = json::array();
  for (const SegmentSpan& s : p.segments) {
    segments.push_back({{"start", ms(s.t_begin)},
                        {"end", ms(s.t_end)},
                        {"frames", s.frames},
                        {"tokens", s.tokens},
                        {"separator", s.separator}});
  }
  return {{"video", video},
          {"selection",
           {{"method", p.selection}, {"frames", frames}, {"clips", clips}, {"notes", p.notes}}},
          {"merge", {{"method", p.merge_method}}},
          {"segments", segments},
          {"tokens", to_json(p.tokens)},
          {"timings", to_json(p.timings)}};
}

json to_json(const AskResult& r) {
  json j = to_json(r.prepared);
  json moments = json::array();
  for (const Moment& m : r.moments)
    moments.push_back(to_json(m));
  j["question"] = r.question;
  j["answer"] = r.answer;
  j["moments"] = moments;
  j["stop_reason"] = r.stop_reason;
  j["model"] = r.model;
  j["tokens"] = to_json(r.tokens);
  j["timings"] = to_json(r.timings);
  j["time_to_first_token"] = ms(r.first_token_s);
  return j;
}

json to_json(const CaptionReport& report) {
  json files = json::array();
  for (const CaptionFileResult& f : report.files) {
    json captions = json::array();
    for (const Caption& c : f.items) {
      captions.push_back({{"start", ms(c.start_s)}, {"end", ms(c.end_s)}, {"text", c.text}});
    }
    files.push_back({{"video", f.video.string()},
                     {"output", f.output.string()},
                     {"status", to_string(f.status)},
                     {"captions", f.captions},
                     {"seconds", ms(f.seconds)},
                     {"error", f.error},
                     {"note", f.note}});
  }
  return {{"files", files},
          {"done", report.done},
          {"partial", report.partial},
          {"skipped", report.skipped},
          {"failed", report.failed},
          {"cancelled", report.cancelled},
          {"exit_code", report.exit_code()}};
}

}  // namespace clipmind::pipeline
