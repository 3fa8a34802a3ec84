// Cost of the content-based model id (pipeline/model_id.h) on a folder shaped like a 3.5 GB
// model: config.json, a 7 MB tokenizer.json and a safetensors file of --gb GB (sparse: holes
// read as zeros, so this measures the id's reads and hashing, not the disk), against the
// baseline of hashing the whole weights file with the same SHA-256 (content_hash kFull).
// Prints times and the ratio; never fails on times.
//
//   build/bench/model_id_bench [--gb 3.5] [--repeat 5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "pipeline/content_hash.h"
#include "pipeline/model_id.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void make_folder(const fs::path& dir, double gb) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"model_type":"siglip","hidden_size":1152})";
  {
    std::ofstream tok(dir / "tokenizer.json");
    tok << "{\"model\":{\"vocab\":{";
    for (int i = 0; i < 400000; ++i)
      tok << (i ? "," : "") << "\"tok" << i << "\":" << i;
    tok << "}}}";
  }
  const std::string header = R"({"w":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}})";
  const uint64_t size = static_cast<uint64_t>(gb * 1e9);
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i)
    prefix[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  prefix += header;
  const fs::path file = dir / "model.safetensors";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ::write(fd, prefix.data(), prefix.size()) != static_cast<ssize_t>(prefix.size()) ||
      ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    std::fprintf(stderr, "cannot write %s\n", file.c_str());
    std::exit(1);
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  double gb = 3.5;
  int repeat = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--gb") gb = std::atof(argv[i + 1]);
    if (a == "--repeat") repeat = std::max(1, std::atoi(argv[i + 1]));
  }
  const fs::path dir = fs::path(CLIPMIND_BENCH_WORK_DIR) / "model-id";
  fs::remove_all(dir);
  make_folder(dir, gb);

  std::vector<double> v2, v1;
  std::string id;
  for (int r = 0; r < repeat; ++r) {
    auto t = Clock::now();
    id = clipmind::pipeline::model_folder_id(dir);
    v2.push_back(seconds_since(t));
    t = Clock::now();
    (void)clipmind::pipeline::legacy_model_folder_id(dir);
    v1.push_back(seconds_since(t));
  }
  std::sort(v2.begin(), v2.end());
  std::sort(v1.begin(), v1.end());
  const auto t = Clock::now();
  clipmind::pipeline::content_hash(dir / "model.safetensors",
                                   clipmind::pipeline::ContentHashMode::kFull);
  const double full = seconds_since(t);
  std::printf("weights %.2f GB (sparse), tokenizer.json %.1f MB\n", gb,
              static_cast<double>(fs::file_size(dir / "tokenizer.json")) / 1e6);
  std::printf("model id v2 (content): median %.4f s  (%s)\n", v2[v2.size() / 2], id.c_str());
  std::printf("model id v1 (path+mtime): median %.5f s\n", v1[v1.size() / 2]);
  std::printf("baseline: SHA-256 of the whole weights file: %.3f s\n", full);
  std::printf("ratio v2 / full hash: %.4f\n", v2[v2.size() / 2] / full);
  fs::remove_all(dir);
  return 0;
}
