// Config file + flag overrides: defaults, strictness, precedence, and that docs/pipeline.md
// documents exactly the defaults the code uses.
#include "pipeline/config.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/support/error_message.h"
#include "tests/support/work_dir.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"

namespace clipmind::pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path work_dir() {
  return test::work_dir("pipeline_config");
}

fs::path write(const std::string& name, const std::string& text) {
  const fs::path path = work_dir() / name;
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::function<void()>& body) {
  return test::error_message(body);
}

ConfigSources no_user_file() {
  ConfigSources s;
  s.use_user_file = false;
  return s;
}

TEST(Config, DefaultsAreTheDocumentedOnes) {
  const PipelineConfig c;
  EXPECT_EQ(c.model, "llava-hf/llava-onevision-qwen2-0.5b-ov-hf");
  EXPECT_EQ(c.select.method, "auto");
  EXPECT_EQ(c.merge.method, "holitom");
  EXPECT_EQ(c.dtype, "auto");
  EXPECT_FALSE(c.budget.tokens.has_value());
  EXPECT_FALSE(c.budget.ratio.has_value());
  EXPECT_NO_THROW(validate(c));

  // docs/pipeline.md holds the default config file between two markers; it must be exactly
  // what the code uses, so the documentation can never drift.
  std::ifstream in(fs::path(CLIPMIND_SOURCE_DIR) / "docs" / "pipeline.md");
  ASSERT_TRUE(in) << "docs/pipeline.md is missing";
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const size_t begin = doc.find("<!-- config-defaults:begin -->");
  const size_t end = doc.find("<!-- config-defaults:end -->");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  std::string block = doc.substr(begin, end - begin);
  block = block.substr(block.find("```json") + 7);
  block = block.substr(0, block.find("```"));
  EXPECT_EQ(json::parse(block), default_config_json());
}

// Every key of the defaults has a row in docs/pipeline.md's "Keys" table, with the default
// that the code uses. A row may name several keys of one section: `merge.tau`, `beta` (the
// later names take the first one's section) and list their defaults in the same order.
TEST(Config, EveryKeyIsDocumentedInTheKeysTable) {
  std::ifstream in(fs::path(CLIPMIND_SOURCE_DIR) / "docs" / "pipeline.md");
  ASSERT_TRUE(in);
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const size_t begin = doc.find("### Keys");
  ASSERT_NE(begin, std::string::npos);
  std::map<std::string, std::string> documented;  // key -> its default cell entry
  std::istringstream lines(doc.substr(begin, doc.find("\n## ", begin) - begin));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    const size_t c1 = line.find(" | ", 2);
    const size_t c2 = line.find(" | ", c1 + 3);
    ASSERT_NE(c2, std::string::npos) << line;
    const auto ticked = [](const std::string& cell) {
      std::vector<std::string> out;
      for (size_t a = cell.find('`'); a != std::string::npos; a = cell.find('`', a + 1)) {
        const size_t b = cell.find('`', a + 1);
        out.push_back(cell.substr(a + 1, b - a - 1));
        a = b;
      }
      return out;
    };
    const std::vector<std::string> keys = ticked(line.substr(2, c1 - 2));
    const std::vector<std::string> values = ticked(line.substr(c1 + 3, c2 - c1 - 3));
    ASSERT_EQ(keys.size(), values.size()) << line;
    const size_t dot = keys[0].rfind('.');
    const std::string section = dot == std::string::npos ? "" : keys[0].substr(0, dot + 1);
    for (size_t i = 0; i < keys.size(); ++i) {
      documented[i == 0 || keys[i].find('.') != std::string::npos ? keys[i] : section + keys[i]] =
          values[i];
    }
  }
  const json flat = default_config_json().flatten();
  for (const auto& [pointer, value] : flat.items()) {
    std::string key = pointer.substr(1);
    std::replace(key.begin(), key.end(), '/', '.');
    SCOPED_TRACE(key);
    ASSERT_TRUE(documented.count(key)) << "not in the Keys table of docs/pipeline.md";
    const std::string shown = documented[key];
    if (value.is_string()) {
      EXPECT_EQ(shown, value.get<std::string>().empty() ? "\"\"" : value.get<std::string>());
    } else if (value.is_number()) {
      EXPECT_DOUBLE_EQ(std::stod(shown), value.get<double>());
    } else {
      EXPECT_EQ(shown, value.dump());
    }
  }
  EXPECT_EQ(documented.size(), flat.size()) << "the table names keys the code does not have";
}

TEST(Config, RoundTripsThroughJson) {
  PipelineConfig c;
  c.merge.method = "tome";
  c.budget.tokens.reset();
  c.budget.ratio = 0.2;
  c.caption.segment = "30";
  const PipelineConfig back = config_from_json(to_json(c), "test");
  EXPECT_EQ(to_json(back), to_json(c));
}

TEST(Config, FileOverridesDefaultsAndFlagsOverrideTheFile) {
  const fs::path file = write("a.json", R"({"merge": {"method": "tome", "tau": 0.7},
                                             "device": "cuda", "budget": {"tokens": 4000}})");
  {
    ConfigSources s = no_user_file();
    s.file = file;
    EXPECT_EQ(*load_config(s).config.budget.tokens, 4000);
  }
  write("a.json", R"({"merge": {"method": "tome", "tau": 0.7},
                       "device": "cuda", "budget": {"tokens": 4000, "ratio": null}})");
  write("a.json", R"({"merge": {"method": "tome", "tau": 0.7},
                       "device": "cuda", "budget": {"ratio": 0.15}})");
  ConfigSources s = no_user_file();
  s.file = file;
  LoadedConfig loaded = load_config(s);
  EXPECT_EQ(loaded.file, file);
  EXPECT_EQ(loaded.config.merge.method, "tome");
  EXPECT_EQ(loaded.config.merge.tau, std::optional<double>(0.7));
  EXPECT_EQ(loaded.config.device, "cuda");
  EXPECT_EQ(loaded.config.merge.k_max, 7);  // untouched keys keep their defaults
  EXPECT_FALSE(loaded.config.budget.tokens.has_value());
  EXPECT_DOUBLE_EQ(*loaded.config.budget.ratio, 0.15);

  s.overrides = {{"merge.method", "divprune"}, {"budget.tokens", "3000"}, {"device", "cpu"}};
  loaded = load_config(s);
  EXPECT_EQ(loaded.config.merge.method, "divprune");
  EXPECT_EQ(loaded.config.merge.tau, std::optional<double>(0.7));
  EXPECT_EQ(*loaded.config.budget.tokens, 3000);
  EXPECT_FALSE(loaded.config.budget.ratio.has_value());  // the flag's budget wins over the ratio
  EXPECT_EQ(loaded.config.device, "cpu");
}

// methods.md "HoliTom" (e): the released scripts run R = 0.10 with τ = 0.65 and R = 0.15-0.25
// with τ = 0.80; an explicit merge.tau always wins.
TEST(Config, UnsetTauFollowsHolitomsReleasedPairing) {
  MergeConfig merge;
  EXPECT_FALSE(merge.tau.has_value());
  EXPECT_DOUBLE_EQ(holitom_tau(merge, 627.0 / 6272.0), 0.65);  // the default 10 % cap
  EXPECT_DOUBLE_EQ(holitom_tau(merge, 0.10), 0.65);
  EXPECT_DOUBLE_EQ(holitom_tau(merge, 0.15), 0.80);
  EXPECT_DOUBLE_EQ(holitom_tau(merge, 0.25), 0.80);
  EXPECT_DOUBLE_EQ(holitom_tau(merge, 1.0), 0.80);
  merge.tau = 0.7;
  EXPECT_DOUBLE_EQ(holitom_tau(merge, 0.10), 0.7);
  EXPECT_DOUBLE_EQ(holitom_tau(merge, 0.20), 0.7);
}

TEST(Config, AutoInnerMethodIsHolitomOnlyWithTheHolitomMerge) {
  PipelineConfig c;
  EXPECT_EQ(c.inner.method, "auto");
  EXPECT_EQ(inner_method(c, 24), "holitom");
  EXPECT_EQ(inner_method(c, 1), "none");  // no layer after which to merge
  for (const char* merge : {"tome", "divprune", "none"}) {
    c.merge.method = merge;
    EXPECT_EQ(inner_method(c, 24), "none") << merge;
  }
  c.inner.method = "fastv";
  EXPECT_EQ(inner_method(c, 24), "fastv");
  c.merge.method = "holitom";
  c.inner.method = "none";
  EXPECT_EQ(inner_method(c, 24), "none");
}

TEST(Config, OverrideValuesAreJsonWhenTheyParseElseStrings) {
  json doc = default_config_json();
  apply_overrides(doc, {{"cache.enabled", "false"},
                        {"generate.system_prompt", "Be brief."},
                        {"caption.segment", "30"},
                        {"model", "/models/llava"}});
  const PipelineConfig c = config_from_json(doc, "test");
  EXPECT_FALSE(c.cache.enabled);
  EXPECT_EQ(c.generate.system_prompt, "Be brief.");
  EXPECT_EQ(c.caption.segment, "30");
  EXPECT_EQ(c.model, "/models/llava");
}

TEST(Config, UnknownKeysNameTheFileAndTheKey) {
  const fs::path file = write("typo.json", R"({"merge": {"methd": "tome"}})");
  ConfigSources s = no_user_file();
  s.file = file;
  const std::string message = error_of([&] { load_config(s); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("merge.methd"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key"), std::string::npos) << message;

  ConfigSources flags = no_user_file();
  flags.overrides = {{"merge.nope", "1"}};
  try {
    load_config(flags);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("merge.nope"), std::string::npos);
  }
}

TEST(Config, WrongTypesAndRangesAreRejected) {
  auto load_text = [](const std::string& text) {
    ConfigSources s = no_user_file();
    s.file = write("bad.json", text);
    return error_of([&] { load_config(s); });
  };
  EXPECT_NE(load_text(R"({"merge": {"tau": "high"}})").find("merge.tau: expected a number"),
            std::string::npos);
  EXPECT_NE(load_text(R"({"threads": 1.5})").find("threads: expected an integer"),
            std::string::npos);
  EXPECT_NE(load_text(R"({"merge": {"method": "fast"}})").find("'fast' is not one of"),
            std::string::npos);
  EXPECT_NE(load_text(R"({"budget": {"tokens": 10, "ratio": 0.5}})").find("not both"),
            std::string::npos);
  EXPECT_NE(load_text(R"({"budget": {"ratio": 1.5}})").find("budget.ratio"), std::string::npos);
  EXPECT_NE(load_text(R"({"caption": {"segment": "often"}})").find("caption.segment"),
            std::string::npos);
  EXPECT_NE(load_text(R"({"caption": {"segment": "0.001"}})").find("shortest caption window"),
            std::string::npos);
  EXPECT_EQ(load_text(R"({"caption": {"segment": "0.5"}})"), "<no error>");
  EXPECT_NE(load_text(R"({"device": "tpu"})").find("device"), std::string::npos);
  EXPECT_NE(load_text(R"({"merge": 3})").find("merge: expected an object"), std::string::npos);
  EXPECT_NE(load_text("{ not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(load_text(R"({"threads": 1e400})").find("not valid JSON"), std::string::npos);
  const std::string folder = error_of([] {
    ConfigSources s = no_user_file();
    s.file = work_dir();
    load_config(s);
  });
  EXPECT_NE(folder.find("is a folder"), std::string::npos) << folder;
  const std::string missing = error_of([] {
    ConfigSources s = no_user_file();
    s.file = work_dir() / "does-not-exist.json";
    load_config(s);
  });
  EXPECT_NE(missing.find("no such config file"), std::string::npos);
}

TEST(Config, FileErrorsKindIsInvalidInputFlagErrorsInvalidArgument) {
  ConfigSources s = no_user_file();
  s.file = write("kind.json", R"({"merge": {"tau": 2}})");
  try {
    load_config(s);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  }
  ConfigSources f = no_user_file();
  f.overrides = {{"merge.tau", "2"}};
  try {
    load_config(f);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()).find("flags: merge.tau"), 0u) << e.what();
  }
}

TEST(Config, SectionsCannotBeOverriddenWhole) {
  json doc = default_config_json();
  EXPECT_THROW(apply_overrides(doc, {{"merge", "none"}}), Error);
}

TEST(Config, UserFileAndEnvironmentAreFound) {
  const fs::path home = work_dir() / "xdg";
  fs::create_directories(home / "clipmind");
  std::ofstream(home / "clipmind" / "config.json") << R"({"threads": 3})";
  ::setenv("XDG_CONFIG_HOME", home.c_str(), 1);
  EXPECT_EQ(user_config_path(), home / "clipmind" / "config.json");
  EXPECT_EQ(load_config({}).config.threads, 3);
  const fs::path env_file = write("env.json", R"({"threads": 5})");
  ::setenv("CLIPMIND_CONFIG", env_file.c_str(), 1);
  EXPECT_EQ(load_config({}).config.threads, 5);
  ::unsetenv("CLIPMIND_CONFIG");
  ::unsetenv("XDG_CONFIG_HOME");
}

TEST(Config, CacheDirDefaultsToTheUserCache) {
  CacheConfig cache;
  ::setenv("XDG_CACHE_HOME", "/tmp/xdg-cache", 1);
  EXPECT_EQ(resolve_cache_dir(cache), fs::path("/tmp/xdg-cache/clipmind"));
  ::unsetenv("XDG_CACHE_HOME");
  cache.dir = "/data/cm";
  EXPECT_EQ(resolve_cache_dir(cache), fs::path("/data/cm"));
}

}  // namespace
}  // namespace clipmind::pipeline
