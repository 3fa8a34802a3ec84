// Validation shared by the config parsers (config.json, text/vision sub-configs,
// preprocessor_config.json): errors that name the file (and sub-object) and the key, and the
// "positive integer with the config class's default" look-up every parser needs.
// Throws clipmind::Error; nlohmann::json is only forward-declared here.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace clipmind::models {

// Throws kInvalidInput with "<where>: <what>".
[[noreturn]] void config_invalid(const std::string& where, const std::string& what);
// Throws kUnsupported with "<where>: <what>" (a valid value this project does not implement).
[[noreturn]] void config_unsupported(const std::string& where, const std::string& what);

// object[key] as an integer in [1, max], or `fallback` when absent or null (the fallback is
// checked too). A wrong type or an out-of-range value throws kInvalidInput naming the key.
int64_t json_positive_int(const nlohmann::json& object, const char* key, int64_t fallback,
                          const std::string& where, int64_t max = int64_t{1} << 30);

}  // namespace clipmind::models
