// Index benchmark: ingest throughput (no model time: synthetic segments), ANN search latency
// and recall@10 against exact search, and SQLite vs PostgreSQL insert throughput.
// Every figure is printed next to its baseline from the same run (exact search for the ANN,
// SQLite for PostgreSQL) as a ratio. Results and commands: docs/benchmarks.md, "Index".
//
// Usage: index_bench [--ann-sizes 100000,1000000] [--dims 768,1152] [--threads 2]
//                    [--queries N] [--m 16] [--ef-construction 100] [--store-segments 100000]
//                    [--pg-videos 300] [--no-pg] [--work DIR]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "index/ann_index.h"
#include "index/store.h"
#ifdef CLIPMIND_BENCH_HAVE_PG
#include "pg_test_server.h"
#endif

namespace fs = std::filesystem;
using namespace clipmind::index;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<size_t> parse_list(const std::string& s) {
  std::vector<size_t> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    out.push_back(std::stoull(item));
  return out;
}

// splitmix64, so nearby seeds start far apart.
uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

size_t rss_mib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "VmHWM: %zu kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb / 1024;
}

// Synthetic embeddings with the cluster structure real ones have: 1,000 Gaussian clusters,
// unit-norm centres, isotropic noise of norm ~0.6, then normalised. Deterministic per index.
class Synthetic {
 public:
  Synthetic(int dim, uint64_t seed) : dim_(dim), seed_(seed) {
    std::mt19937_64 gen(mix64(seed));
    std::normal_distribution<float> n(0.0f, 1.0f);
    centres_.resize(size_t(kClusters) * dim);
    for (auto& x : centres_)
      x = n(gen) / std::sqrt(float(dim));
  }
  void fill(uint64_t index, float* out) const {
    std::mt19937_64 gen(mix64(seed_ * 0x100000001b3ull + index));
    std::normal_distribution<float> n(0.0f, 1.0f);
    const float* c = centres_.data() + size_t(gen() % kClusters) * dim_;
    const float noise = 0.6f / std::sqrt(float(dim_));
    double s = 0;
    for (int d = 0; d < dim_; ++d) {
      out[d] = c[d] + noise * n(gen);
      s += double(out[d]) * out[d];
    }
    const float inv = float(1.0 / std::sqrt(s));
    for (int d = 0; d < dim_; ++d)
      out[d] *= inv;
  }
  std::vector<float> vec(uint64_t index) const {
    std::vector<float> v(dim_);
    fill(index, v.data());
    return v;
  }

 private:
  static constexpr int kClusters = 1000;
  int dim_;
  uint64_t seed_;
  std::vector<float> centres_;
};

struct Args {
  std::vector<size_t> ann_sizes{100000, 1000000};
  std::vector<size_t> dims{768, 1152};
  unsigned threads = 2;
  size_t queries = 0;  // 0: 200 at 100k, 100 above
  size_t m = 16, ef_construction = 100;
  size_t store_segments = 100000;
  size_t pg_videos = 300;
  bool pg = true;
  fs::path work = fs::temp_directory_path() / "clipmind-index-bench";
};

void ann_grid(const Args& args) {
  std::printf("\n== ANN (hnswlib HNSW, M=%zu, ef_construction=%zu, %u build threads) vs exact ==\n",
              args.m, args.ef_construction, args.threads);
  std::printf("%9s %5s %9s %8s %9s %6s %10s %10s %9s %8s\n", "vectors", "dim", "build_s", "peakRSS",
              "exact_ms", "ef", "ann_ms", "speedup", "recall@10", "queries");
  for (size_t dim : args.dims) {
    for (size_t n : args.ann_sizes) {
      const Synthetic data(int(dim), 42 + dim);
      AnnParams params;
      params.m = args.m;
      params.ef_construction = args.ef_construction;
      params.threads = args.threads;
      auto t0 = Clock::now();
      AnnIndex ann(int(dim), n, params);
      const size_t chunk = 20000;
      std::vector<float> buf(chunk * dim);
      std::vector<int64_t> ids(chunk);
      for (size_t at = 0; at < n; at += chunk) {
        const size_t m = std::min(chunk, n - at);
        for (size_t i = 0; i < m; ++i) {
          ids[i] = int64_t(at + i + 1);
          data.fill(at + i, buf.data() + i * dim);
        }
        ann.add(std::span(ids.data(), m), std::span(buf.data(), m * dim));
        if ((at + m) % 100000 == 0) {
          std::fprintf(stderr, "  build %zu x %zu: %zu added, %.0f s\n", n, dim, at + m,
                       seconds_since(t0));
        }
      }
      const double build = seconds_since(t0);
      const size_t q = args.queries ? args.queries : (n <= 100000 ? 200 : 100);
      std::vector<std::vector<float>> queries;
      for (size_t i = 0; i < q; ++i)
        queries.push_back(data.vec(1'000'000'000ull + i));
      // Ground truth, on all build threads (the baseline's latency is per query, per thread).
      std::vector<std::vector<Neighbor>> truth(q);
      t0 = Clock::now();
      {
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < args.threads; ++t) {
          pool.emplace_back([&, t] {
            for (size_t i = t; i < q; i += args.threads)
              truth[i] = ann.exact_search(queries[i], 10);
          });
        }
        for (auto& th : pool)
          th.join();
      }
      const double exact_ms = seconds_since(t0) * 1000.0 * args.threads / double(q);
      for (size_t ef : {32, 64, 128, 256}) {
        size_t found = 0;
        t0 = Clock::now();
        std::vector<std::vector<Neighbor>> got(q);
        for (size_t i = 0; i < q; ++i)
          got[i] = ann.search(queries[i], 10, ef);
        const double ann_ms = seconds_since(t0) * 1000.0 / double(q);
        for (size_t i = 0; i < q; ++i) {
          for (const auto& t : truth[i]) {
            for (const auto& g : got[i])
              found += g.id == t.id;
          }
        }
        std::printf("%9zu %5zu %9.1f %8zu %9.2f %6zu %10.3f %9.0fx %9.4f %8zu\n", n, dim, build,
                    rss_mib(), exact_ms, ef, ann_ms, exact_ms / ann_ms,
                    double(found) / double(q * 10), q);
        std::fflush(stdout);
      }
    }
  }
}

// Eight words from a 2,000-word vocabulary with a Zipf-like skew, like short captions.
std::string word(uint64_t r) {
  const uint64_t w = (r % 2000) * (r % 2000) / 2000;  // skewed towards low ids
  static const char* syll[] = {"ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "vu"};
  std::string out;
  for (uint64_t x = w + 10; x > 0; x /= 10)
    out += syll[x % 10];
  return out;
}

std::string caption(uint64_t seed) {
  std::mt19937_64 gen(mix64(seed * 31 + 5));
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i) out += ' ';
    out += word(gen());
  }
  return out;
}

// Synthetic videos of 20 segments with 6 KiB thumbnails and captions, as the pipeline would hand
// them over; returns segments per second of commit_video.
double ingest(Store& store, size_t videos, int dim, size_t first, const std::string& tag) {
  const Synthetic data(dim, 7);
  std::vector<Segment> segs(20);
  const auto t0 = Clock::now();
  for (size_t v = 0; v < videos; ++v) {
    for (size_t j = 0; j < segs.size(); ++j) {
      auto& s = segs[j];
      s.t_begin = 5.0 * j;
      s.t_end = s.t_begin + 5.0;
      s.embedding = data.vec((first + v) * 20 + j);
      s.caption = caption((first + v) * 20 + j);
      s.thumbnail_jpeg.assign(6144, uint8_t(j));
    }
    const std::string path = "/bench/" + tag + "/" + std::to_string(first + v) + ".mp4";
    const FileStamp st{"hash" + std::to_string(v), int64_t(v), int64_t(v)};
    store.begin_video(path, st, "bench-model");
    store.commit_video(path, st, "bench-model", segs);
  }
  return double(videos * segs.size()) / seconds_since(t0);
}

void store_bench(const Args& args) {
  const int dim = 768;
  std::printf("\n== SQLite store end to end: %zu segments of dim %d ==\n", args.store_segments,
              dim);
  fs::create_directories(args.work);
  const fs::path db = args.work / "bench.db";
  for (const auto& e : fs::directory_iterator(args.work)) {
    if (e.path().filename().string().starts_with("bench.db")) fs::remove(e.path());
  }
  OpenOptions opts;
  opts.ann.threads = args.threads;
  opts.ann.ef_construction = args.ef_construction;
  auto store = open_store(db.string(), opts);
  const double rate = ingest(*store, args.store_segments / 20, dim, 0, "sqlite");
  std::printf("ingest: %.0f segments/s (%.1f videos/s of 20 segments), file %.0f MiB\n", rate,
              rate / 20, double(fs::file_size(db)) / (1 << 20));
  auto t0 = Clock::now();
  store->sync_ann();
  std::printf("ANN build from SQLite + save: %.1f s\n", seconds_since(t0));
  store.reset();
  t0 = Clock::now();
  store = open_store(db.string(), opts);
  const Synthetic data(dim, 7);
  SearchQuery warm;
  warm.embedding = data.vec(123);
  store->search(warm);
  std::printf("reopen + load ANN file + first search: %.2f s\n", seconds_since(t0));
  for (auto mode : {SearchMode::kExact, SearchMode::kAnn}) {
    for (bool text : {false, true}) {
      const int q = 100;
      t0 = Clock::now();
      for (int i = 0; i < q; ++i) {
        SearchQuery query;
        query.embedding = data.vec(900'000'000ull + i);
        query.mode = mode;
        if (text) {
          std::mt19937_64 gen(mix64(i));
          for (int w = 0; w < 3; ++w) {
            query.text += word(gen());
            query.text += ' ';
          }
        }
        store->search(query);
      }
      std::printf("search %-5s %-11s: %.2f ms/query (k=10, 50 candidates per list)\n",
                  mode == SearchMode::kAnn ? "ANN" : "exact", text ? "+ captions" : "vector only",
                  seconds_since(t0) * 1000.0 / q);
    }
  }
}

#ifdef CLIPMIND_BENCH_HAVE_PG
// Vector-only searches of `store`: latency of exact and ANN mode, recall@10 of ANN against the
// exact results of the same store.
void search_bench(Store& store, int dim, const std::string& label) {
  const Synthetic data(dim, 7);
  const size_t q = 100;
  auto query = [&](size_t i, SearchMode mode) {
    SearchQuery sq;
    sq.embedding = data.vec(900'000'000ull + i);
    sq.mode = mode;
    return store.search(sq);
  };
  auto t0 = Clock::now();
  query(q, SearchMode::kAnn);  // the plain path builds its local ANN copy here
  const double first = seconds_since(t0);
  std::vector<std::vector<SearchHit>> truth(q);
  t0 = Clock::now();
  for (size_t i = 0; i < q; ++i)
    truth[i] = query(i, SearchMode::kExact);
  const double exact_ms = seconds_since(t0) * 1000.0 / double(q);
  size_t found = 0, total = 0;
  t0 = Clock::now();
  for (size_t i = 0; i < q; ++i) {
    const auto got = query(i, SearchMode::kAnn);
    for (const auto& t : truth[i]) {
      ++total;
      for (const auto& g : got)
        found += g.segment_id == t.segment_id;
    }
  }
  const double ann_ms = seconds_since(t0) * 1000.0 / double(q);
  std::printf(
      "%-28s first search %.2f s, exact %.2f ms/query, ANN %.2f ms/query (%.1fx), "
      "recall@10 %.4f\n",
      label.c_str(), first, exact_ms, ann_ms, exact_ms / ann_ms,
      total ? double(found) / double(total) : 0.0);
}
#endif

void insert_comparison(const Args& args) {
#ifdef CLIPMIND_BENCH_HAVE_PG
  const int dim = 768;
  std::printf(
      "\n== Insert throughput: SQLite vs PostgreSQL (%zu videos x 20 segments, dim %d) ==\n",
      args.pg_videos, dim);
  fs::create_directories(args.work);
  const fs::path db = args.work / "insert.db";
  for (const auto& e : fs::directory_iterator(args.work)) {
    if (e.path().filename().string().starts_with("insert.db")) fs::remove(e.path());
  }
  const double sqlite_rate = ingest(*open_store(db.string()), args.pg_videos, dim, 0, "s");
  auto server = clipmind::index::test::PgTestServer::start(/*durable=*/true);
  double pg_rate = 0, vec_rate = 0;
  bool have_pgvector = false;
  try {
    // Without pgvector: real[] only, searched through the store's local hnswlib copy.
    OpenOptions plain_options;
    plain_options.use_pgvector = false;
    auto plain = open_store(server.create_database("bench"), plain_options);
    pg_rate = ingest(*plain, args.pg_videos, dim, 0, "p");
    // With pgvector: every insert also goes into the server's HNSW index.
    auto vec = open_store(server.create_database("bench_vec"));
    have_pgvector = vec->info().pgvector;
    if (have_pgvector) vec_rate = ingest(*vec, args.pg_videos, dim, 0, "v");
    std::printf("SQLite (WAL, synchronous=FULL): %.0f segments/s\n", sqlite_rate);
    std::printf("PostgreSQL 15 (loopback, fsync on), no pgvector: %.0f segments/s\n", pg_rate);
    std::printf("ratio SQLite / PostgreSQL: %.2f\n", sqlite_rate / pg_rate);
    if (have_pgvector) {
      std::printf("PostgreSQL 15 + pgvector HNSW index: %.0f segments/s (%.2f of no pgvector)\n",
                  vec_rate, vec_rate / pg_rate);
      std::printf("\n== PostgreSQL search, %zu segments (k=10, 50 candidates) ==\n",
                  args.pg_videos * 20);
      search_bench(*plain, dim, "no pgvector (local hnswlib):");
      search_bench(*vec, dim, "pgvector (server HNSW):");
    } else {
      std::printf("(pgvector not installed: scripts/install-pgvector.sh; its rows skipped)\n");
    }
  } catch (...) {
    server.stop();
    throw;
  }
  server.stop();
#else
  (void)args;
  std::printf("\n(PostgreSQL comparison not built)\n");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "index_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--ann-sizes")
      args.ann_sizes = parse_list(next());
    else if (a == "--dims")
      args.dims = parse_list(next());
    else if (a == "--threads")
      args.threads = unsigned(std::stoul(next()));
    else if (a == "--queries")
      args.queries = std::stoull(next());
    else if (a == "--m")
      args.m = std::stoull(next());
    else if (a == "--ef-construction")
      args.ef_construction = std::stoull(next());
    else if (a == "--store-segments")
      args.store_segments = std::stoull(next());
    else if (a == "--pg-videos")
      args.pg_videos = std::stoull(next());
    else if (a == "--no-pg")
      args.pg = false;
    else if (a == "--work")
      args.work = next();
    else {
      std::fprintf(stderr, "index_bench: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  try {
    if (args.store_segments > 0) store_bench(args);
    if (args.pg && args.pg_videos > 0) insert_comparison(args);
    if (!args.ann_sizes.empty()) ann_grid(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "index_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
