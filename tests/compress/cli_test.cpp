// The real `clipmind merge-eval` and `clipmind plan` binaries (CLIPMIND_CLI) against the
// merge-golden fixtures and the planner's hand-computed numbers.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "golden.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace clipmind::compress {
namespace {

namespace fs = std::filesystem;

// Concatenation through a stream: GCC 12 at -O3 warns falsely (-Wrestrict) on chains of
// "literal" + std::string.
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

struct CliRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CliRun run_cli(const std::string& arguments, const std::string& tag) {
  const fs::path log = fs::path(CLIPMIND_TEST_WORK_DIR) / cat("compress_cli_", tag, ".log");
  const std::string command =
      cat('"', CLIPMIND_CLI, "\" ", arguments, " > \"", log.string(), "\" 2>&1");
  const int status = std::system(command.c_str());
  CliRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  run.output = text.str();
  return run;
}

fs::path work(const std::string& name) {
  return fs::path(CLIPMIND_TEST_WORK_DIR) / name;
}

class MergeEvalCli : public ::testing::TestWithParam<const char*> {};

void check_case(const std::string& name, bool grid) {
  const fs::path dir = testing::golden_dir() / name;
  const nlohmann::json params = testing::load_json(dir / "params.json");
  const std::string suffix = grid ? "_grid" : "";
  const fs::path out = work(cat("merge_eval_", name, suffix, ".npy"));
  const fs::path index = work(cat("merge_eval_", name, suffix, "_index.npy"));
  fs::remove(out);
  fs::remove(index);
  std::ostringstream args;
  args.precision(17);
  args << "merge-eval --tokens \"" << (dir / "x.npy").string() << "\" --attn \""
       << (dir / "attn.npy").string() << "\" --ratio " << params["R"].get<double>() << " --tau "
       << params["tau"].get<double>() << " --beta " << params["beta"].get<double>() << " --knn "
       << params["K"].get<int64_t>() << " --layout " << (grid ? "grid" : "one_token") << " --out \""
       << out.string() << "\" --index-out \"" << index.string() << "\"";
  const CliRun run = run_cli(args.str(), cat(name, suffix));
  ASSERT_EQ(run.exit_code, 0) << run.output;

  const at::Tensor got = testing::load_npy(out);
  const at::Tensor want = testing::load_npy(dir / cat("out_tokens", suffix, ".npy"));
  ASSERT_EQ(got.scalar_type(), at::kFloat);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_LE((got - want).abs().max().item<double>(), 1e-4);
  const at::Tensor got_index = testing::load_npy(index);
  ASSERT_EQ(got_index.scalar_type(), at::kInt);
  EXPECT_TRUE(got_index.equal(testing::load_npy(dir / cat("out_index", suffix, ".npy"))));
}

TEST_P(MergeEvalCli, OneTokenLayoutMatchesTheFixture) {
  check_case(GetParam(), false);
}
TEST_P(MergeEvalCli, GridLayoutMatchesTheFixture) {
  check_case(GetParam(), true);
}

INSTANTIATE_TEST_SUITE_P(MergeGolden, MergeEvalCli, ::testing::ValuesIn(testing::kOuterCases));

TEST(MergeEvalCliErrors, BadInputsFailCleanly) {
  const fs::path dir = testing::golden_dir() / "worked";
  const std::string x = cat('"', (dir / "x.npy").string(), '"');
  const std::string attn = cat('"', (dir / "attn.npy").string(), '"');
  const fs::path out = work("merge_eval_error.npy");
  fs::remove(out);
  const std::string o = cat(" --out \"", out.string(), '"');

  CliRun run =
      run_cli(cat("merge-eval --tokens ", attn, " --attn ", attn, " --ratio 0.3", o), "e1");
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.output.find("attn.npy: tokens must be [T, N, D]"), std::string::npos) << run.output;

  run = run_cli(cat("merge-eval --tokens ", x, " --attn ", x, " --ratio 0.3", o), "e2");
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.output.find("attention must be [T, N]"), std::string::npos) << run.output;

  run = run_cli(cat("merge-eval --tokens /no/such.npy --attn ", attn, " --ratio 0.3", o), "e3");
  EXPECT_EQ(run.exit_code, 4);

  const fs::path readme = testing::golden_dir() / "README.md";
  run = run_cli(
      cat("merge-eval --tokens \"", readme.string(), "\" --attn ", attn, " --ratio 0.3", o), "e4");
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.output.find("README.md"), std::string::npos);

  run = run_cli(
      cat("merge-eval --tokens ", x, " --attn ", attn, " --ratio 0.3 --layout diagonal", o), "e5");
  EXPECT_EQ(run.exit_code, 2);
  run = run_cli(cat("merge-eval --tokens ", x, " --attn ", attn, " --ratio -1", o), "e7");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_FALSE(fs::exists(out)) << "no output after a failure";
}

TEST(MergeEvalCliBudget, BudgetIsNeverExceeded) {
  const fs::path dir = testing::golden_dir() / "c_realistic";
  const fs::path out = work("merge_eval_budget.npy");
  for (const int budget : {0, 627, 10000}) {
    const CliRun run = run_cli(
        cat("merge-eval --tokens \"", (dir / "x.npy").string(), "\" --attn \"",
            (dir / "attn.npy").string(), "\" --budget ", budget, " --out \"", out.string(), '"'),
        "budget");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const at::Tensor got = testing::load_npy(out);
    EXPECT_LE(got.size(0), budget);
    EXPECT_EQ(got.size(1), 64);
  }
  for (const char* method : {"tome", "divprune"}) {
    const CliRun run =
        run_cli(cat("merge-eval --method ", method, " --tokens \"", (dir / "x.npy").string(),
                    "\" --ratio 0.1 --out \"", out.string(), '"'),
                method);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(testing::load_npy(out).size(0), 627);
  }
}

TEST(PlanCli, PrintsThePlan) {
  CliRun run = run_cli("plan --duration 600 --json", "plan_json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json plan = nlohmann::json::parse(run.output);
  EXPECT_EQ(plan["frames"], 32);
  EXPECT_EQ(plan["merge_cap"], 627);
  EXPECT_EQ(plan["prefill_tokens"], 916);
  EXPECT_EQ(plan["baseline_tokens"], 6337);
  EXPECT_EQ(plan["planned_frames"][1]["separator"], "[18.8s]");
  // 24 layers of 4 n d^2 + 2 n^2 d + 2 n d m at d = 896, m = 4864: 916 tokens against 6337.
  auto layer = [](double n) { return 4 * n * 896 * 896 + 2 * n * n * 896 + 2 * n * 896 * 4864; };
  EXPECT_NEAR(plan["flops_ratio"].get<double>(), layer(916) / layer(6337), 1e-6);
  EXPECT_EQ(plan["prefill_flops"].get<double>(), 24 * layer(916));

  run =
      run_cli("plan --duration 600 --question \"when does the dog jump?\" --method none", "plan_q");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("SigLIP"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("selection: scene"), std::string::npos) << run.output;

  run = run_cli("plan --duration 60 --method fastest", "plan_bad");
  EXPECT_EQ(run.exit_code, 2);
}

TEST(PlanCli, InputSizeSetsTheGridAndAbsurdValuesAreRefused) {
  // 224 px: 16 patches a side, pooled to 8x8 = 64 tokens a frame; 32 frames + prompt 64 + 1.
  CliRun run = run_cli("plan --duration 600 --input-size 224 --json", "plan_224");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json plan = nlohmann::json::parse(run.output);
  EXPECT_EQ(plan["baseline_tokens"], 32 * 64 + 64 + 1);
  EXPECT_EQ(plan["planned_frames"][0]["grid"], 8);

  for (const std::string& bad :
       {std::string("--duration 600 --ratio 0"), std::string("--duration 1e300"),
        std::string("--duration 600 --input-size 20"),
        std::string("--duration 600 --input-size 4096")}) {
    run = run_cli("plan " + bad, "plan_refused");
    EXPECT_EQ(run.exit_code, 2) << bad << ": " << run.output;
    EXPECT_EQ(run.output.find("planned_frames"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace clipmind::compress
