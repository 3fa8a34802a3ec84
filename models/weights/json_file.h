// Reading JSON files (config.json, tokenizer.json, index files) with errors that name the file,
// and small typed accessors that say which key was wrong. Uses nlohmann::json; this header only
// forward-declares it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace clipmind::models {

// Parses a whole file. Throws kNotFound if it does not exist, kInvalidInput (naming the file and
// the parser's position) if it is not valid JSON, kIo if it cannot be read.
nlohmann::json read_json_file(const std::filesystem::path& path);

// Typed look-ups in a JSON object. `where` names the file (and sub-object) for messages.
// get_*: the key must be present with the right type; opt_*: absent or null gives nullopt,
// a wrong type still throws kInvalidInput.
int64_t json_get_int(const nlohmann::json& object, const char* key, const std::string& where);
std::optional<int64_t> json_opt_int(const nlohmann::json& object, const char* key,
                                    const std::string& where);
std::optional<double> json_opt_number(const nlohmann::json& object, const char* key,
                                      const std::string& where);
std::optional<bool> json_opt_bool(const nlohmann::json& object, const char* key,
                                  const std::string& where);
std::optional<std::string> json_opt_string(const nlohmann::json& object, const char* key,
                                           const std::string& where);

}  // namespace clipmind::models
