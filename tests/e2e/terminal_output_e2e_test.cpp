// Text output never hands control characters to the terminal: an index whose captions were
// tampered with (ESC sequences, BEL, CR, a C1 CSI) and a video whose file name holds an ESC
// are searched with the real `clipmind search`. The table shows neither raw, cuts the long
// caption to 120 columns with "…", and stays one line per result; --json still gives the
// stored bytes exactly ("\u001b" escapes). Error messages that name such a file, and the
// argument parser's, are sanitized too.
#include <algorithm>
#include <filesystem>
#include <string>

#include "tests/e2e/index_e2e_util.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace clipmind::e2e {
namespace {

using nlohmann::json;

void set_all_captions(const fs::path& db_file, const std::string& caption) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE segments SET caption = ?1", -1, &st, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_bind_text(st, 1, caption.data(), static_cast<int>(caption.size()), SQLITE_TRANSIENT);
  EXPECT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(db);
  sqlite3_finalize(st);
  EXPECT_GT(sqlite3_changes(db), 0);
  sqlite3_close(db);
}

bool has_raw_control(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7F) return true;
    // C1 controls U+0080..U+009F in UTF-8: C2 80..C2 9F.
    if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      return true;
    }
  }
  return false;
}

TEST(SearchCliTerminal, TamperedCaptionsAndFileNamesReachTheTableSanitizedAndJsonExact) {
  const fs::path dir = fresh_dir("search-terminal");
  const std::string evil_name = "evil\x1b[31mred.mp4";
  fs::copy_file(index_video("idx-term", 40), dir / evil_name);
  const std::string db = (dir.parent_path() / "search-terminal.db").string();
  fs::remove(db);
  const RunResult indexed = run_cli(index_args({dir.string()}, db));
  ASSERT_EQ(indexed.exit_code, 0) << indexed.err;

  std::string caption =
      "\x1b]0;pwned\x07\x1b[2Jcleared\rover\bwrite \xC2\x9B"
      "31m ";
  for (int i = 0; i < 60; ++i)
    caption += "\xE4\xB8\xAD";  // 中: 120 columns on its own
  set_all_captions(db, caption);

  std::vector<std::string> args = {"search", "--db", db, "a test pattern", "-k", "2"};
  for (const std::string& m : model_args())
    args.push_back(m);
  const RunResult table = run_cli(args);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(std::count(table.out.begin(), table.out.end(), '\n'), 2) << table.out;
  EXPECT_FALSE(has_raw_control(table.out)) << table.out;
  EXPECT_EQ(table.out.find('\x1b'), std::string::npos);
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_NE(table.out.find("evil" + fffd + "[31mred.mp4"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(fffd + "]0;pwned" + fffd + fffd + "[2Jcleared" + fffd + "over" + fffd +
                           "write " + fffd + "31m "),
            std::string::npos)
      << table.out;
  // Cut: 38 columns before the CJK run, so 40 of the 60 中 fit before "…" (38 + 80 + 1 = 119;
  // one more would need 121).
  std::string cut;
  for (int i = 0; i < 40; ++i)
    cut += "\xE4\xB8\xAD";
  cut += "\xE2\x80\xA6\n";
  EXPECT_NE(table.out.find(cut), std::string::npos) << table.out;

  args.push_back("--json");
  const RunResult doc = run_cli(args);
  ASSERT_EQ(doc.exit_code, 0) << doc.err;
  EXPECT_NE(doc.out.find("\\u001b"), std::string::npos) << doc.out;
  const json parsed = json::parse(doc.out);
  ASSERT_EQ(parsed.at("results").size(), 2u);
  for (const json& r : parsed.at("results")) {
    EXPECT_EQ(r.at("caption").get<std::string>(), caption);
    EXPECT_EQ(fs::path(r.at("video").get<std::string>()).filename().string(), evil_name);
  }
}

TEST(ErrorTextCli, ErrorMessagesNamingAFileShowItsControlCharactersReplaced) {
  const std::string missing = (fresh_dir("terminal-errors") / "no\x1b[2Jsuch\r.mp4").string();
  const RunResult r =
      run_cli({"ask", missing, "What?", "--model", tiny_vlm().string(), "--no-cache"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_FALSE(has_raw_control(r.err)) << r.err;
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_NE(r.err.find("no" + fffd + "[2Jsuch" + fffd + ".mp4"), std::string::npos) << r.err;
  // A bad option echoed by the argument parser.
  const RunResult parse = run_cli({"ask", "--no-such-flag\x1b[31m"});
  EXPECT_EQ(parse.exit_code, 2) << parse.err;
  EXPECT_FALSE(has_raw_control(parse.err)) << parse.err;
}

}  // namespace
}  // namespace clipmind::e2e
