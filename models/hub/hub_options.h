// Settings of the model hub: where the Hugging Face cache is, which server to download from,
// the access token, offline mode, retry and timeout policy.
//
// HubOptions::from_environment() reads the variables huggingface_hub reads, so clipmind and
// Python tools share one cache and one login:
//   cache   HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE (legacy), else $HF_HOME/hub, where HF_HOME
//           defaults to $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
//   server  HF_ENDPOINT (default https://huggingface.co)
//   token   HF_TOKEN, else the file HF_TOKEN_PATH, else $HF_HOME/token (written by
//           `huggingface-cli login`)
//   offline HF_HUB_OFFLINE set to 1/true/yes/on (any case)
// Reading the environment never throws; a token file that cannot be read counts as no token.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace clipmind::models::hub {

struct HubOptions {
  std::filesystem::path cache_dir;                  // the "hub" folder holding models--org--name/
  std::string endpoint = "https://huggingface.co";  // no trailing '/'
  std::string token;                                // empty: anonymous requests
  bool offline = false;                             // never touch the network
  // Why `offline` is set and how to undo it, for messages: a caller that sets it for another
  // reason (a command-line flag) says so here, so nobody is told to unset a variable they never
  // set.
  std::string offline_why = "HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE to download it";
  int max_retries = 5;                          // per file, after a transfer broke off or a 5xx
  std::chrono::milliseconds retry_delay{1000};  // before the first retry; doubles, capped at 30 s
  std::chrono::seconds connect_timeout{20};
  std::chrono::seconds stall_timeout{60};  // abort a transfer that moved no byte this long

  static HubOptions from_environment();
};

// True for the spellings huggingface_hub treats as true: "1", "ON", "YES", "TRUE" (any case).
bool env_flag_is_true(const char* value);

}  // namespace clipmind::models::hub
