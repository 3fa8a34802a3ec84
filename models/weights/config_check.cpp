#include "models/weights/config_check.h"

#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/weights/json_file.h"

namespace clipmind::models {

void config_invalid(const std::string& where, const std::string& what) {
  throw Error(ErrorKind::kInvalidInput, where + ": " + what);
}

void config_unsupported(const std::string& where, const std::string& what) {
  throw Error(ErrorKind::kUnsupported, where + ": " + what);
}

int64_t json_positive_int(const nlohmann::json& object, const char* key, int64_t fallback,
                          const std::string& where, int64_t max) {
  const int64_t value = json_opt_int(object, key, where).value_or(fallback);
  if (value <= 0 || value > max) {
    config_invalid(where, std::string("\"") + key + "\" must be a positive integer, got " +
                              std::to_string(value));
  }
  return value;
}

}  // namespace clipmind::models
