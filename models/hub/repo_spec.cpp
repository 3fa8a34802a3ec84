#include "models/hub/repo_spec.h"

#include <cctype>

namespace clipmind::models::hub {
namespace {

bool is_id_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// One half of a repo id. huggingface_hub's regex also wants a word character at both ends
// (\b...\b), so '-', '_'-free edges are not required but '.' and '-' edges are refused.
bool is_valid_part(std::string_view part, size_t max_length) {
  if (part.empty() || part.size() > max_length) return false;
  for (char c : part) {
    if (!is_id_char(c)) return false;
  }
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  return word(part.front()) && word(part.back());
}

}  // namespace

bool is_valid_repo_id(std::string_view repo_id) {
  const size_t slash = repo_id.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view org = repo_id.substr(0, slash);
  const std::string_view name = repo_id.substr(slash + 1);
  if (name.find('/') != std::string_view::npos) return false;
  if (repo_id.find("--") != std::string_view::npos) return false;
  if (repo_id.find("..") != std::string_view::npos) return false;
  if (name.ends_with(".git")) return false;
  return is_valid_part(org, 96) && is_valid_part(name, 96);
}

bool is_valid_revision(std::string_view revision) {
  if (revision.empty() || revision.size() > 255) return false;
  for (char c : revision) {
    if (std::iscntrl(static_cast<unsigned char>(c)) ||
        std::isspace(static_cast<unsigned char>(c)) || c == '\\') {
      return false;
    }
  }
  return is_safe_repo_path(revision);
}

bool is_commit_hash(std::string_view revision) {
  if (revision.size() != 40) return false;
  for (char c : revision) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) ||
        std::isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

std::optional<RepoSpec> parse_repo_spec(std::string_view spec) {
  RepoSpec result;
  const size_t at = spec.find('@');
  if (at != std::string_view::npos) {
    result.revision = std::string(spec.substr(at + 1));
    spec = spec.substr(0, at);
    if (!is_valid_revision(result.revision)) return std::nullopt;
  }
  if (!is_valid_repo_id(spec)) return std::nullopt;
  result.repo_id = std::string(spec);
  return result;
}

std::string repo_folder_name(std::string_view repo_id) {
  std::string name = "models--";
  for (char c : repo_id) {
    if (c == '/') {
      name += "--";
    } else {
      name += c;
    }
  }
  return name;
}

bool is_safe_repo_path(std::string_view name) {
  if (name.empty() || name.front() == '/') return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  for (char c : name) {
    if (c == '\\' || std::iscntrl(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace clipmind::models::hub
