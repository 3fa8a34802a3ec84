#include "models/weights/json_file.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "clipmind/error.h"

namespace clipmind::models {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(ErrorKind::kNotFound, path.string() + ": no such file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::kIo, path.string() + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(ErrorKind::kIo, path.string() + ": read failed");
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInvalidInput, path.string() + ": not valid JSON: " + e.what());
  }
}

namespace {

const nlohmann::json* lookup(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

[[noreturn]] void wrong_type(const std::string& where, const char* key, const char* expected) {
  throw Error(ErrorKind::kInvalidInput, where + ": \"" + key + "\" must be " + expected);
}

}  // namespace

int64_t json_get_int(const nlohmann::json& object, const char* key, const std::string& where) {
  const auto value = json_opt_int(object, key, where);
  if (!value) throw Error(ErrorKind::kInvalidInput, where + ": missing \"" + key + "\"");
  return *value;
}

std::optional<int64_t> json_opt_int(const nlohmann::json& object, const char* key,
                                    const std::string& where) {
  const nlohmann::json* value = lookup(object, key);
  if (!value) return std::nullopt;
  if (value->is_number_integer()) return value->get<int64_t>();
  // 1e6-style integers written as floats.
  if (value->is_number_float()) {
    const double d = value->get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  wrong_type(where, key, "an integer");
}

std::optional<double> json_opt_number(const nlohmann::json& object, const char* key,
                                      const std::string& where) {
  const nlohmann::json* value = lookup(object, key);
  if (!value) return std::nullopt;
  if (!value->is_number()) wrong_type(where, key, "a number");
  return value->get<double>();
}

std::optional<bool> json_opt_bool(const nlohmann::json& object, const char* key,
                                  const std::string& where) {
  const nlohmann::json* value = lookup(object, key);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) wrong_type(where, key, "true or false");
  return value->get<bool>();
}

std::optional<std::string> json_opt_string(const nlohmann::json& object, const char* key,
                                           const std::string& where) {
  const nlohmann::json* value = lookup(object, key);
  if (!value) return std::nullopt;
  if (!value->is_string()) wrong_type(where, key, "a string");
  return value->get<std::string>();
}

}  // namespace clipmind::models
