// download_snapshot for builds without libcurl (CLIPMIND_WITH_CURL=OFF): local folders and the
// Hugging Face cache still work; a download attempt says how to get the files another way.
#include "clipmind/error.h"
#include "models/hub/downloader.h"

namespace clipmind::models::hub {

bool downloads_supported() {
  return false;
}

DownloadResult download_snapshot(const RepoSpec& spec, const HubOptions& options,
                                 const ProgressCallback&, const CancelToken&) {
  throw Error(ErrorKind::kUnsupported,
              spec.repo_id + "@" + spec.revision + " is not in the Hugging Face cache (" +
                  options.cache_dir.string() +
                  ") and this clipmind was built without download support "
                  "(CLIPMIND_WITH_CURL=OFF): fetch it with `huggingface-cli download " +
                  spec.repo_id + "`, or pass a local model folder");
}

}  // namespace clipmind::models::hub
