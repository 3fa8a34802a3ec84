// Test driver for the kill -9 test: indexes the crash workload into a SQLite store, skipping
// what is already indexed, and prints "committed N" after each commit. Usage: DB
#include <cstdio>
#include <exception>

#include "crash_workload.h"

#include "index/store.h"

int main(int argc, char** argv) {
  using namespace clipmind::index;
  if (argc != 2) {
    std::fprintf(stderr, "usage: index_crash_driver DB\n");
    return 2;
  }
  try {
    auto store = open_store(argv[1]);
    for (int i = 0; i < crash::kVideos; ++i) {
      const auto st = crash::stamp(i);
      const auto f = store->freshness(crash::path(i), st.size_bytes, st.mtime_ns,
                                      [&] { return st.content_hash; });
      if (!needs_indexing(f)) continue;
      store->begin_video(crash::path(i), st, "crash-model");
      store->commit_video(crash::path(i), st, "crash-model", crash::segments(i));
      std::printf("committed %d\n", i);
      std::fflush(stdout);
    }
    std::printf("done\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "index_crash_driver: %s\n", e.what());
    return 1;
  }
}
