// `clipmind index` and `clipmind search`: argument parsing and terminal output around
// pipeline/index_job.h. All work happens in the library.
//
// Output discipline as for ask/caption: the summary, results or --json documents go to stdout;
// logs and the progress bar to stderr (the bar only on a terminal). Ctrl-C / SIGTERM cancel
// the indexing job (the video in progress is redone by the next run; everything committed
// stays); a second Ctrl-C ends the process at once.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "app/clipmind/cli_signals.h"
#include "app/clipmind/cli_terminal.h"
#include "app/clipmind/commands.h"
#include "app/clipmind/pipeline_flags.h"
#include "app/clipmind/terminal_text.h"
#include "clipmind/counted.h"
#include "clipmind/error.h"
#include "index/shard.h"
#include "index/store.h"
#include "pipeline/config.h"
#include "pipeline/errors.h"
#include "pipeline/index_job.h"
#include "pipeline/log.h"
#include "pipeline/session.h"

namespace clipmind::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Display columns of a caption in the search table (longer ones end with "…"; --json has all).
constexpr int kCaptionColumns = 120;

struct IndexFlags {
  CommonFlags common;
  std::string db;
  bool json = false;
};

void add_flags(CLI::App* cmd, IndexFlags& f) {
  cmd->add_option("--db", f.db, "Index: a SQLite file (created when missing) or postgresql://...")
      ->required();
  add_common_flags(cmd, f.common,
                   {"Override any config key: --set caption.max_segment_s=30",
                    "LLaVA-OneVision model for --captions (folder or repo id)",
                    "SigLIP dual encoder for segment and query embeddings (folder or repo id); "
                    "index and search must use the same one"});
}

pipeline::PipelineConfig load(const IndexFlags& f) {
  return pipeline::load_config(config_sources(f.common)).config;
}

json report_json(const pipeline::IndexReport& r) {
  json files = json::array();
  for (const pipeline::IndexFileResult& f : r.files) {
    json j = {{"path", f.path},       {"status", pipeline::to_string(f.status)},
              {"reason", f.reason},   {"segments", f.segments},
              {"seconds", f.seconds}, {"worker", f.worker}};
    if (f.status == pipeline::IndexStatus::kFailed) j["error"] = f.error;
    files.push_back(std::move(j));
  }
  json out = {{"db", r.db},
              {"indexed", r.indexed},
              {"skipped", r.skipped},
              {"failed", r.failed},
              {"segments", r.segments},
              {"pruned", r.pruned},
              {"cancelled", r.cancelled},
              {"seconds", r.seconds},
              {"files", files}};
  if (!r.ann_save_error.empty()) out["ann_save_error"] = r.ann_save_error;
  return out;
}

void run_index(const IndexFlags& flags, const std::vector<std::string>& inputs, bool captions,
               int jobs, bool prune, const std::optional<std::string>& shard, bool retry_failed,
               bool force) {
  pipeline::IndexRequest request;
  for (const std::string& i : inputs)
    request.inputs.emplace_back(i);
  request.db = flags.db;
  request.captions = captions;
  request.jobs = jobs;
  request.prune = prune;
  request.retry_failed = retry_failed;
  request.force = force;
  if (shard) request.shard = index::parse_shard(*shard);

  const pipeline::PipelineConfig config = load(flags);
  const pipeline::LogLevel level = pipeline::parse_log_level(config.log_level);
  Terminal t(level != pipeline::LogLevel::kError);
  pipeline::Logger log([&t](const pipeline::LogRecord& r) { t.log(r); }, level);
  pipeline::Session session(config, log);
  CancelToken cancel;
  CancelOnSignal signals(cancel, [&t](const std::string& m) { t.message(m); });
  pipeline::JobCallbacks callbacks;
  callbacks.on_progress = [&t](const pipeline::JobProgress& p) { t.progress(p); };
  pipeline::IndexReport report;
  try {
    report = pipeline::run_index(session, request, callbacks, cancel);
  } catch (...) {
    signals.report_stop(log);
    t.clear();
    fail_with_hint(std::current_exception());
  }
  signals.report_stop(log);
  t.clear();
  if (flags.json) {
    std::printf("%s\n", json_text(report_json(report), 2).c_str());
  } else {
    std::fputs(terminal_safe(pipeline::format_index_summary(report)).c_str(), stdout);
  }
  std::fflush(stdout);
  if (report.cancelled) throw Cancelled();
  for (const pipeline::IndexFileResult& f : report.files) {
    if (f.status == pipeline::IndexStatus::kFailed) {
      throw Error(f.error_kind, std::to_string(report.failed) + " of " +
                                    counted(static_cast<int64_t>(report.files.size()), "video") +
                                    " could not be indexed (see the summary)");
    }
  }
}

std::string span_text(double a, double b) {
  auto clock = [](double s) {
    char buf[32];
    const auto total = static_cast<long long>(s * 10.0 + 0.5);
    const long long tenths = total % 10, secs = (total / 10) % 60, mins = (total / 600) % 60,
                    hours = total / 36000;
    if (hours > 0) {
      std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld.%lld", hours, mins, secs, tenths);
    } else {
      std::snprintf(buf, sizeof buf, "%lld:%02lld.%lld", mins, secs, tenths);
    }
    return std::string(buf);
  };
  return clock(a) + "-" + clock(b);
}

void run_search(const IndexFlags& flags, const std::optional<std::string>& query,
                const std::optional<std::string>& like, size_t k, const std::string& mode) {
  if (query.has_value() == like.has_value()) {
    throw Error(ErrorKind::kInvalidArgument, "search: give either a QUERY or --like VIDEO@SECONDS");
  }
  pipeline::SearchRequest request;
  request.k = k;
  request.mode = mode == "exact" ? index::SearchMode::kExact
                 : mode == "ann" ? index::SearchMode::kAnn
                                 : index::SearchMode::kAuto;
  if (query) {
    pipeline::check_search_query(*query);  // before opening the index or loading a model
    request.text = *query;
  }
  if (like) {
    const auto [video, seconds] = pipeline::parse_like(*like);
    request.like_video = video;
    request.like_seconds = seconds;
  }
  const pipeline::PipelineConfig config = load(flags);
  const pipeline::LogLevel level = pipeline::parse_log_level(config.log_level);
  Terminal t(false);
  pipeline::Logger log([&t](const pipeline::LogRecord& r) { t.log(r); }, level);
  pipeline::SearchOutcome outcome;
  std::string location;
  try {
    const index::OpenOptions options = pipeline::index_open_options(config, false);
    if (!index::is_postgres_uri(flags.db) && !fs::exists(flags.db)) {
      throw Error(ErrorKind::kNotFound, flags.db + ": no such index (run clipmind index first)");
    }
    std::unique_ptr<index::Store> store = index::open_store(flags.db, options);
    location = store->info().location;
    pipeline::Session session(config, log);
    outcome = pipeline::search_index(session, *store, request);
    if (const std::string why = store->info().ann_save_error; !why.empty())
      log.warning("search",
                  "the search index copy was not saved (the next search builds it again): " + why);
  } catch (...) {
    fail_with_hint(std::current_exception());
  }
  for (const std::string& note : outcome.notes) log.info("search", note);
  if (outcome.captions_only)
    log.info("search", "to compare pictures too, name a SigLIP model with --relevance-model M");
  if (flags.json) {
    json results = json::array();
    int rank = 0;
    for (const pipeline::SearchResult& r : outcome.results) {
      json j = {{"rank", ++rank},
                {"video", r.video_path},
                {"start", r.t_begin},
                {"end", r.t_end},
                {"score", r.score},
                {"caption", r.caption},
                {"segment_id", r.segment_id}};
      j["similarity"] = r.similarity ? json(*r.similarity) : json(nullptr);
      results.push_back(std::move(j));
    }
    json doc = {{"db", location},
                {"k", k},
                {"captions_only", outcome.captions_only},
                {"notes", outcome.notes},
                {"results", results}};
    if (query) doc["query"] = *query;
    if (like) {
      doc["like"] = {{"video", *request.like_video}, {"seconds", request.like_seconds}};
      if (outcome.source) {
        doc["like"]["segment"] = {{"video", outcome.source->video_path},
                                  {"start", outcome.source->t_begin},
                                  {"end", outcome.source->t_end},
                                  {"segment_id", outcome.source->id}};
      }
    }
    std::printf("%s\n", json_text(doc, 2).c_str());
  } else {
    if (outcome.results.empty()) std::printf("no results\n");
    int rank = 0;
    for (const pipeline::SearchResult& r : outcome.results) {
      // Paths and captions come from the index (a tampered one too): no raw control
      // characters, one line per result, captions cut to kCaptionColumns.
      std::printf("%2d  %.4f  %s  [%s]", ++rank, r.score,
                  terminal_safe(r.video_path, TextContext::kCell).c_str(),
                  span_text(r.t_begin, r.t_end).c_str());
      if (r.similarity) std::printf("  sim %.3f", *r.similarity);
      if (!r.caption.empty()) std::printf("  %s", table_cell(r.caption, kCaptionColumns).c_str());
      std::printf("\n");
    }
  }
  std::fflush(stdout);
}

}  // namespace

void add_index_commands(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand(
        "index",
        "Index videos and folders for search: scene segments with SigLIP embeddings, "
        "thumbnails and optional captions (incremental and resumable)");
    auto flags = std::make_shared<IndexFlags>();
    auto inputs = std::make_shared<std::vector<std::string>>();
    auto captions = std::make_shared<bool>(false);
    auto jobs = std::make_shared<int>(1);
    auto prune = std::make_shared<bool>(false);
    auto shard = std::make_shared<std::optional<std::string>>();
    auto retry = std::make_shared<bool>(false);
    auto force = std::make_shared<bool>(false);
    cmd->add_option("PATH", *inputs, "Video files and folders (searched recursively)")->required();
    add_flags(cmd, *flags);
    cmd->add_flag("--captions", *captions, "Also caption every segment with the VLM (--model)");
    cmd->add_option("--jobs,-j", *jobs, "Parallel workers (each loads the models once)")
        ->check(CLI::Range(1, 256));
    cmd->add_flag("--prune", *prune, "Remove indexed videos under PATH that no longer exist");
    cmd->add_option("--shard", *shard, "Index only shard i of n of the file list (\"i/n\")");
    cmd->add_flag("--retry-failed", *retry, "Try again videos that failed before");
    cmd->add_flag("--force", *force, "Re-index every video, even unchanged ones");
    cmd->add_flag("--json", flags->json, "Print the batch report as JSON instead of a table");
    cmd->callback(
        [=] { run_index(*flags, *inputs, *captions, *jobs, *prune, *shard, *retry, *force); });
  }
  {
    auto* cmd = app.add_subcommand(
        "search", "Search an index: text (SigLIP text tower + caption words) or --like a moment");
    auto flags = std::make_shared<IndexFlags>();
    auto query = std::make_shared<std::optional<std::string>>();
    auto like = std::make_shared<std::optional<std::string>>();
    auto k = std::make_shared<size_t>(10);
    auto mode = std::make_shared<std::string>("auto");
    cmd->add_option("QUERY", *query, "What to look for, in words");
    add_flags(cmd, *flags);
    cmd->add_option("--like", *like, "Moments that look like VIDEO@SECONDS (e.g. clip.mp4@12.5)");
    cmd->add_option("-k,--top", *k, "How many results")->check(CLI::Range(1, 10000));
    cmd->add_option("--mode", *mode, "auto, exact or ann")
        ->check(CLI::IsMember({"auto", "exact", "ann"}));
    cmd->add_flag("--json", flags->json, "Print the results as one JSON document");
    cmd->callback([=] { run_search(*flags, *query, *like, *k, *mode); });
  }
}

}  // namespace clipmind::cli
