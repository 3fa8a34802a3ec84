// JSON string escaping for the CLI commands that print JSON by hand (probe, plan): quotes,
// backslashes and control characters; other bytes (UTF-8 included) pass through unchanged.
#pragma once

#include <string>

namespace clipmind::cli {

std::string json_escape(const std::string& text);

}  // namespace clipmind::cli
