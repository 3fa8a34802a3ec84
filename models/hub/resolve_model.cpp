#include "models/hub/resolve_model.h"

#include <cstdlib>
#include <system_error>
#include <vector>

#include "clipmind/error.h"
#include "models/hub/downloader.h"
#include "models/hub/hf_cache.h"
#include "models/hub/model_folder.h"

namespace clipmind::models::hub {
namespace {

namespace fs = std::filesystem;

fs::path expand_user(std::string_view spec) {
  if (spec == "~" || spec.starts_with("~/")) {
    if (const char* home = std::getenv("HOME"); home && *home) {
      return fs::path(home) / std::string(spec.substr(std::min<size_t>(2, spec.size())));
    }
  }
  return fs::path(std::string(spec));
}

// Specs a user meant as a path: a repo id never has these shapes.
bool looks_like_path(std::string_view spec) {
  if (spec.starts_with("/") || spec.starts_with("./") || spec.starts_with("../") ||
      spec.starts_with("~") || spec == "." || spec == ".." || spec.ends_with("/")) {
    return true;
  }
  const size_t first = spec.find('/');
  return first != std::string_view::npos && spec.find('/', first + 1) != std::string_view::npos &&
         spec.find('@') == std::string_view::npos;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

std::optional<fs::path> find_cached_model(const RepoSpec& repo, const fs::path& cache_dir) {
  const HfCache cache(cache_dir);
  const auto commit = cache.cached_commit(repo.repo_id, repo.revision);
  if (!commit) return std::nullopt;
  const fs::path snapshot = cache.snapshot_dir(repo.repo_id, *commit);
  std::error_code ec;
  if (!fs::is_directory(snapshot, ec)) return std::nullopt;
  try {
    if (!missing_model_files(snapshot).empty()) return std::nullopt;
  } catch (const Error&) {
    return std::nullopt;  // a broken index in the cache: treat the snapshot as incomplete
  }
  return snapshot;
}

fs::path resolve_model(std::string_view spec, const HubOptions& options,
                       const ProgressCallback& progress, const CancelToken& cancel) {
  if (spec.empty()) throw Error(ErrorKind::kInvalidArgument, "empty model spec");

  const fs::path path = expand_user(spec);
  std::error_code ec;
  if (fs::exists(path, ec)) {
    if (!fs::is_directory(path, ec)) {
      throw Error(ErrorKind::kInvalidArgument,
                  path.string() +
                      ": is a file, not a model folder (pass the folder holding "
                      "config.json and the .safetensors weights)");
    }
    require_model_folder(path);
    return fs::absolute(path, ec).lexically_normal();
  }

  const auto repo = parse_repo_spec(spec);
  if (!repo) {
    if (looks_like_path(spec)) {
      throw Error(ErrorKind::kNotFound, path.string() + ": no such model folder");
    }
    throw Error(ErrorKind::kInvalidArgument,
                "\"" + std::string(spec) +
                    "\" is neither an existing model folder nor a Hugging Face repo id "
                    "(org/name or org/name@revision)");
  }

  if (auto cached = find_cached_model(*repo, options.cache_dir)) return *cached;

  if (options.offline) {
    const HfCache cache(options.cache_dir);
    std::string state = "is not in the Hugging Face cache " + options.cache_dir.string();
    if (const auto commit = cache.cached_commit(repo->repo_id, repo->revision)) {
      const fs::path snapshot = cache.snapshot_dir(repo->repo_id, *commit);
      std::vector<std::string> missing;
      try {
        missing = missing_model_files(snapshot);
      } catch (const Error& e) {
        missing = {e.what()};
      }
      state = "is only partly in the Hugging Face cache (" + snapshot.string() + " lacks " +
              join(missing) + ")";
    } else if (const std::string cached = cache.describe_cached(repo->repo_id); !cached.empty()) {
      state += " at revision \"" + repo->revision + "\" (cached: " + cached + ")";
    }
    throw Error(ErrorKind::kNotFound,
                repo->repo_id + "@" + repo->revision + " " + state + ", and " +
                    options.offline_why +
                    ", or fetch it where there is network with `huggingface-cli download " +
                    repo->repo_id + "` into this cache, or pass a local model folder");
  }

  const DownloadResult result = download_snapshot(*repo, options, progress, cancel);
  require_model_folder(result.snapshot_dir);
  return result.snapshot_dir;
}

}  // namespace clipmind::models::hub
