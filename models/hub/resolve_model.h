// The one call that turns a `--model` argument into a folder the model loaders can open.
//
//   auto dir = clipmind::models::hub::resolve_model("llava-hf/llava-onevision-qwen2-0.5b-ov-hf");
//
// `spec` is, in this order:
//   1. an existing folder (absolute, relative or "~/..."): checked to be a model
//      (model_folder.h) and returned as an absolute path; a folder wins over a repo id of the
//      same spelling;
//   2. a Hugging Face repo id "org/name" or "org/name@revision" (branch, tag or commit):
//      a. the HF cache (HubOptions::cache_dir): refs/<revision> -> snapshots/<commit>/,
//         returned without any network access when it holds config.json and all weights;
//      b. otherwise, unless offline, download_snapshot() fills the cache (downloader.h) and
//         the snapshot folder is returned.
// The returned folder of a repo is <cache>/models--org--name/snapshots/<commit>; its files are
// symlinks into blobs/. A cached snapshot is not checked for newer commits on the Hub: use
// "@<commit>" or delete refs/<revision> to move on.
//
// Errors (clipmind::Error; the message names the spec, the folder or the file):
//   kInvalidArgument  neither an existing folder nor a valid repo id; a file instead of a folder
//   kInvalidInput     a folder that is not a model (names the missing files)
//   kNotFound         a path-like spec that does not exist; a repo not (fully) in the cache
//                     while offline (says how to fix); 404s (see downloader.h)
//   kNetwork, kIo, kUnsupported, Cancelled   from the download (downloader.h)
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

#include "clipmind/progress.h"
#include "models/hub/hub_options.h"
#include "models/hub/repo_spec.h"

namespace clipmind::models::hub {

std::filesystem::path resolve_model(std::string_view spec,
                                    const HubOptions& options = HubOptions::from_environment(),
                                    const ProgressCallback& progress = {},
                                    const CancelToken& cancel = {});

// The complete cached snapshot of `repo`, or nullopt; never touches the network.
std::optional<std::filesystem::path> find_cached_model(const RepoSpec& repo,
                                                       const std::filesystem::path& cache_dir);

}  // namespace clipmind::models::hub
