// Downloads a model snapshot from the Hugging Face Hub (or a mirror) into the HF cache.
//
// Files: config.json (required); the weights, that is model.safetensors.index.json and every
// shard it lists, or else model.safetensors (required); and, when the repo has them, the
// tokenizer files, preprocessor/processor configs, chat templates and generation_config.json
// (optional_model_files() in model_folder.h). Each comes from
// <endpoint>/<repo>/resolve/<revision>/<file>: the first HEAD learns the commit (X-Repo-Commit) and
// every later request is pinned to that commit, so a push during the download cannot mix two
// versions.
//
// Writes the huggingface_hub cache layout (hf_cache.h): blobs/<etag>.incomplete while a file
// downloads (resumed with a Range request on the next try or the next run), renamed to
// blobs/<etag> once complete and verified, then the snapshots/<commit>/ symlink; refs/<rev>
// is written last. Verification: LFS files (sha256 ETag) must hash to their ETag, other files
// (git-sha1 ETag) must have the announced size; a bad file is deleted, never linked.
// Broken-off transfers and 5xx answers are retried (HubOptions::max_retries) from where they
// stopped. Optional files the repo lacks are recorded in .no_exist/<commit>/ as
// huggingface_hub does.
//
// Progress: ProgressEvent{stage "download", done/total in bytes of the files still to fetch,
// detail = file name}, at most every 100 ms plus the final event. The CancelToken is checked
// while waiting and between received chunks; cancelling throws clipmind::Cancelled and keeps
// the .incomplete file for a later resume.
// Errors (clipmind::Error): kNetwork (unreachable host, named; 401/403 with a hint about
// HF_TOKEN and gated repos; broken transfers after the retries; checksum mismatch), kNotFound
// (404: no such repo, revision or file), kUnsupported (built without libcurl), kIo (cache).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "clipmind/progress.h"
#include "models/hub/hub_options.h"
#include "models/hub/repo_spec.h"

namespace clipmind::models::hub {

struct DownloadResult {
  std::string commit;
  std::filesystem::path snapshot_dir;  // <cache>/models--org--name/snapshots/<commit>
  std::vector<std::string> files;      // repo files now in the snapshot
  int64_t bytes_downloaded = 0;        // bytes received over the network in this call
};

// False when clipmind was built without libcurl (download_snapshot then throws kUnsupported).
bool downloads_supported();

DownloadResult download_snapshot(const RepoSpec& spec, const HubOptions& options,
                                 const ProgressCallback& progress = {},
                                 const CancelToken& cancel = {});

}  // namespace clipmind::models::hub
