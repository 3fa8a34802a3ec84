// The `--json` documents of the CLI (and anything else that wants results as JSON): answers
// with their moments, selected frames and clips, merged segments, token counts per stage and
// per-stage timings; prepared videos (chat); caption reports. Field names are documented in
// docs/pipeline.md ("JSON output"). Times are seconds; FLOPs are the paper-compatible count.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "pipeline/caption_job.h"
#include "pipeline/job_types.h"

namespace clipmind::pipeline {

nlohmann::json to_json(const Moment& moment);
nlohmann::json to_json(const TokenCounts& tokens);
nlohmann::json to_json(const std::vector<StageTiming>& timings);
nlohmann::json to_json(const PreparedSummary& prepared);
nlohmann::json to_json(const AskResult& result);
nlohmann::json to_json(const CaptionReport& report);

}  // namespace clipmind::pipeline
