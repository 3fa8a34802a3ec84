#include "models/hub/hub_options.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>

namespace clipmind::models::hub {
namespace {

namespace fs = std::filesystem;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

std::string trim(std::string text) {
  auto space = [](unsigned char c) { return std::isspace(c); };
  text.erase(text.begin(), std::find_if_not(text.begin(), text.end(), space));
  text.erase(std::find_if_not(text.rbegin(), text.rend(), space).base(), text.end());
  return text;
}

// "~" and "~/x" as Python's os.path.expanduser does, since users write them in these variables.
fs::path expand_user(const std::string& path) {
  if (path == "~" || path.starts_with("~/")) {
    const std::string home = env("HOME");
    if (!home.empty()) return fs::path(home) / path.substr(std::min<size_t>(2, path.size()));
  }
  return fs::path(path);
}

fs::path hf_home() {
  if (const std::string home = env("HF_HOME"); !home.empty()) return expand_user(home);
  if (const std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty()) {
    return expand_user(xdg) / "huggingface";
  }
  return expand_user("~/.cache") / "huggingface";
}

std::string read_token_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream content;
  content << in.rdbuf();
  return trim(content.str());
}

}  // namespace

bool env_flag_is_true(const char* value) {
  if (!value) return false;
  std::string upper = trim(value);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

HubOptions HubOptions::from_environment() {
  HubOptions options;
  if (const std::string cache = env("HF_HUB_CACHE"); !cache.empty()) {
    options.cache_dir = expand_user(cache);
  } else if (const std::string legacy = env("HUGGINGFACE_HUB_CACHE"); !legacy.empty()) {
    options.cache_dir = expand_user(legacy);
  } else {
    options.cache_dir = hf_home() / "hub";
  }

  if (std::string endpoint = trim(env("HF_ENDPOINT")); !endpoint.empty()) {
    while (endpoint.ends_with('/'))
      endpoint.pop_back();
    options.endpoint = endpoint;
  }

  options.token = trim(env("HF_TOKEN"));
  if (options.token.empty()) {
    const std::string token_path = env("HF_TOKEN_PATH");
    options.token =
        read_token_file(token_path.empty() ? hf_home() / "token" : expand_user(token_path));
  }

  options.offline = env_flag_is_true(std::getenv("HF_HUB_OFFLINE"));
  return options;
}

}  // namespace clipmind::models::hub
