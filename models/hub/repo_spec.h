// Hugging Face repo ids and the "org/name[@revision]" spelling that `--model` accepts.
//
// Pure string functions, no I/O. A repo id is validated with the rules huggingface_hub applies
// (letters, digits, '-', '_', '.'; no "--" or ".."; name at most 96 characters), except that
// clipmind requires the namespaced form "org/name": a bare "name" would be ambiguous with a
// mistyped local folder, and the Hub redirects the legacy un-namespaced ids anyway.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace clipmind::models::hub {

struct RepoSpec {
  std::string repo_id;            // "org/name"
  std::string revision = "main";  // branch, tag, or 40-hex commit
};

// Parses "org/name" or "org/name@revision"; nullopt when `spec` has another shape.
std::optional<RepoSpec> parse_repo_spec(std::string_view spec);

bool is_valid_repo_id(std::string_view repo_id);

// A revision usable in URLs and as a path under refs/: non-empty, no "..", no empty or "."
// components, no whitespace or control characters ("refs/pr/1" is valid).
bool is_valid_revision(std::string_view revision);

// True for a full 40-hex git commit hash (what snapshots/ folders are named after).
bool is_commit_hash(std::string_view revision);

// "models--org--name", the repo's folder in the Hugging Face cache.
std::string repo_folder_name(std::string_view repo_id);

// A file name inside a repo ("model-00001-of-00002.safetensors", "text/config.json"): relative,
// '/'-separated, no empty, "." or ".." components, no backslash or control characters. Names
// come from the server (safetensors index) and become paths in the cache, hence the check.
bool is_safe_repo_path(std::string_view name);

}  // namespace clipmind::models::hub
