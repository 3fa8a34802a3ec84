#include "index/ann_index.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <exception>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include <fcntl.h>
#include <immintrin.h>

// hnswlib 0.6.2 (Debian) prefetches the link-list entry one past the end of a list under
// USE_SSE, reading 4 bytes beyond a malloc'd block (AddressSanitizer: heap-buffer-overflow in
// searchBaseLayer). Include it without its SSE code: we supply our own SIMD distance below, so
// only its prefetch hints are lost.
#pragma push_macro("__SSE__")
#undef __SSE__
#include <hnswlib/hnswlib.h>
#pragma pop_macro("__SSE__")
#include <unistd.h>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"

namespace clipmind::index {

namespace fs = std::filesystem;

namespace {

// The fixed part of hnswlib's file: 6 size_t, int maxlevel, uint enterpoint, 3 size_t,
// double mult, size_t ef_construction (hnswalg.h saveIndex).
struct HnswHeader {
  size_t offset_level0, max_elements, count, size_data_per_element, label_offset, offset_data;
  int max_level;
  unsigned enterpoint;
  size_t max_m, max_m0, m;
  double mult;
  size_t ef_construction;
};
constexpr size_t kHeaderBytes = 6 * sizeof(size_t) + sizeof(int) + sizeof(unsigned) +
                                3 * sizeof(size_t) + sizeof(double) + sizeof(size_t);

template <typename T>
void read_pod(std::ifstream& in, T& value) {
  in.read(reinterpret_cast<char*>(&value), sizeof(T));
}

[[noreturn]] void bad_file(const fs::path& file, const std::string& what) {
  throw Error(ErrorKind::kInvalidInput, file.string() + ": not a usable ANN index: " + what);
}

// Inner-product distance (1 - a.b) for hnswlib. hnswlib picks AVX kernels only when the whole
// build targets AVX, which a portable build does not; these kernels are chosen at run time.
float dot_distance_portable(const void* a, const void* b, const void* dim_ptr) {
  const size_t n = *static_cast<const size_t*>(dim_ptr);
  const auto* x = static_cast<const float*>(a);
  const auto* y = static_cast<const float*>(b);
  float acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k)
      acc[k] += x[i + k] * y[i + k];
  }
  float sum = 0.0f;
  for (float v : acc)
    sum += v;
  for (; i < n; ++i)
    sum += x[i] * y[i];
  return 1.0f - sum;
}

__attribute__((target("avx2,fma"))) float dot_distance_avx2(const void* a, const void* b,
                                                            const void* dim_ptr) {
  const size_t n = *static_cast<const size_t*>(dim_ptr);
  const auto* x = static_cast<const float*>(a);
  const auto* y = static_cast<const float*>(b);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
         s3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
  const __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_hadd_ps(h, h);
  h = _mm_hadd_ps(h, h);
  float sum = _mm_cvtss_f32(h);
  for (; i < n; ++i)
    sum += x[i] * y[i];
  return 1.0f - sum;
}

class DotSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit DotSpace(size_t dim) : dim_(dim) {
    __builtin_cpu_init();
    fn_ = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? dot_distance_avx2
                                                                          : dot_distance_portable;
  }
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return fn_; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  size_t dim_;
  hnswlib::DISTFUNC<float> fn_;
};

}  // namespace

struct AnnIndex::Impl {
  explicit Impl(int dim) : space(static_cast<size_t>(dim)) {}
  DotSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
};

void normalize_in_place(std::span<float> v) {
  double sum = 0.0;
  for (float x : v)
    sum += static_cast<double>(x) * x;
  if (!(sum > 0.0) || !std::isfinite(sum)) {
    throw Error(ErrorKind::kInvalidArgument,
                "embedding is zero or not finite; cannot normalise it for cosine similarity");
  }
  const float inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v)
    x *= inv;
}

AnnIndex::AnnIndex(int dim, size_t capacity, const AnnParams& params)
    : dim_(dim), params_(params), impl_(std::make_unique<Impl>(dim)) {
  if (dim <= 0) throw Error(ErrorKind::kInvalidArgument, "ANN index: dimension must be positive");
  impl_->hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      &impl_->space, std::max<size_t>(capacity, 16), params.m, params.ef_construction);
}

AnnIndex::AnnIndex(int dim, std::unique_ptr<Impl> impl, const AnnParams& params)
    : dim_(dim), params_(params), impl_(std::move(impl)) {}

AnnIndex::~AnnIndex() = default;

std::unique_ptr<AnnIndex> AnnIndex::load(const fs::path& file, int dim, const AnnParams& params) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorKind::kNotFound, file.string() + ": cannot open ANN index");
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<size_t>(in.tellg());
  in.seekg(0, std::ios::beg);
  if (file_size < kHeaderBytes) bad_file(file, "too short");
  HnswHeader h{};
  read_pod(in, h.offset_level0);
  read_pod(in, h.max_elements);
  read_pod(in, h.count);
  read_pod(in, h.size_data_per_element);
  read_pod(in, h.label_offset);
  read_pod(in, h.offset_data);
  read_pod(in, h.max_level);
  read_pod(in, h.enterpoint);
  read_pod(in, h.max_m);
  read_pod(in, h.max_m0);
  read_pod(in, h.m);
  read_pod(in, h.mult);
  read_pod(in, h.ef_construction);
  if (!in) bad_file(file, "cannot read header");
  // hnswlib trusts these fields; check them before it allocates from them.
  const size_t vector_bytes = static_cast<size_t>(dim) * sizeof(float);
  if (h.label_offset < h.offset_data || h.label_offset - h.offset_data != vector_bytes) {
    bad_file(file, "it holds vectors of another dimension than " + std::to_string(dim));
  }
  if (h.size_data_per_element != h.label_offset + sizeof(hnswlib::labeltype) ||
      h.offset_data != h.max_m0 * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint) ||
      h.count > h.max_elements || h.m == 0 || h.m > 10000 || h.max_m != h.m ||
      h.max_m0 != 2 * h.m || h.offset_level0 != 0 || (h.count > 0 && h.enterpoint >= h.count) ||
      h.count > (file_size - kHeaderBytes) / h.size_data_per_element) {
    bad_file(file, "inconsistent header");
  }
  in.close();
  auto impl = std::make_unique<Impl>(dim);
  try {
    impl->hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        &impl->space, file.string(), false, std::max<size_t>(h.count + h.count / 2, 16));
  } catch (const std::exception& e) {
    bad_file(file, e.what());
  }
  // hnswlib 0.6 adds the deleted elements it finds to an uninitialised counter: recount.
  auto& graph = *impl->hnsw;
  graph.num_deleted_ = 0;
  for (hnswlib::tableint i = 0; i < graph.cur_element_count; ++i) {
    graph.num_deleted_ += graph.isMarkedDeleted(i) ? 1 : 0;
  }
  return std::unique_ptr<AnnIndex>(new AnnIndex(dim, std::move(impl), params));
}

void AnnIndex::save(const fs::path& file) const {
  const auto& h = *impl_->hnsw;
  fs::path temp = file;
  temp += ".part-" + std::to_string(std::random_device{}());
  try {
    // saveIndex only reads, but hnswlib 0.6 does not declare it const. It reports nothing, but
    // the errno of a failed write survives it (nothing after that write sets errno).
    errno = 0;
    const_cast<hnswlib::HierarchicalNSW<float>&>(h).saveIndex(temp.string());
    const int write_errno = errno;
    // hnswlib does not check its writes; compare the size it must have (full disk).
    size_t expected = kHeaderBytes + h.cur_element_count * h.size_data_per_element_;
    for (size_t i = 0; i < h.cur_element_count; ++i) {
      expected += sizeof(unsigned) +
                  (h.element_levels_[i] > 0 ? h.size_links_per_element_ * h.element_levels_[i] : 0);
    }
    std::error_code ec;
    const auto written = fs::file_size(temp, ec);
    if (ec || written != expected) {
      throw Error(ErrorKind::kIo, file.string() + ": cannot write the ANN index: " +
                                      (write_errno != 0 ? std::strerror(write_errno)
                                                        : "the file came out short (disk full?)"));
    }
    // hnswlib writes through its own stream; the file is reopened to fsync it, the same way
    // AtomicFile commits (clipmind/atomic_file.h).
    const int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw Error(ErrorKind::kIo,
                  file.string() + ": cannot flush the ANN index: " + std::strerror(errno));
    }
    try {
      sync_file(fd, file, "cannot flush the ANN index");
    } catch (...) {
      ::close(fd);
      throw;
    }
    if (::close(fd) != 0) {
      throw Error(ErrorKind::kIo,
                  file.string() + ": cannot flush the ANN index: " + std::strerror(errno));
    }
    rename_into_place(temp, file);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
}

void AnnIndex::reserve(size_t total) {
  auto& h = *impl_->hnsw;
  if (total <= h.max_elements_) return;
  const size_t grown = std::max(total, h.max_elements_ + h.max_elements_ / 2);
  try {
    h.resizeIndex(grown);
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kIo, std::string("ANN index: cannot grow to ") + std::to_string(grown) +
                                    " vectors: " + e.what());
  }
}

void AnnIndex::add(std::span<const int64_t> ids, std::span<const float> vectors) {
  const size_t n = ids.size();
  if (vectors.size() != n * static_cast<size_t>(dim_)) {
    throw Error(ErrorKind::kInternal, "ANN index: vector buffer does not match the id count");
  }
  if (n == 0) return;
  auto& h = *impl_->hnsw;
  reserve(h.cur_element_count + n);
  const unsigned threads = n < 1000 ? 1u : std::max(1u, params_.threads);
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    try {
      for (size_t i = next++; i < n; i = next++) {
        h.addPoint(vectors.data() + i * dim_, static_cast<hnswlib::labeltype>(ids[i]));
      }
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = n;
    }
  };
  if (threads == 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back(work);
    for (auto& t : pool)
      t.join();
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(ErrorKind::kInternal, std::string("ANN index: cannot add vectors: ") + e.what());
    }
  }
}

bool AnnIndex::remove(int64_t id) {
  auto& h = *impl_->hnsw;
  const auto it = h.label_lookup_.find(static_cast<hnswlib::labeltype>(id));
  if (it == h.label_lookup_.end() || h.isMarkedDeleted(it->second)) return false;
  h.markDelete(static_cast<hnswlib::labeltype>(id));
  return true;
}

bool AnnIndex::contains(int64_t id) const {
  const auto& h = *impl_->hnsw;
  const auto it = h.label_lookup_.find(static_cast<hnswlib::labeltype>(id));
  return it != h.label_lookup_.end() && !h.isMarkedDeleted(it->second);
}

size_t AnnIndex::live_count() const {
  return impl_->hnsw->cur_element_count - impl_->hnsw->num_deleted_;
}

size_t AnnIndex::deleted_count() const {
  return impl_->hnsw->num_deleted_;
}

std::vector<Neighbor> AnnIndex::search(std::span<const float> query, size_t k, size_t ef) const {
  if (query.size() != static_cast<size_t>(dim_)) {
    throw Error(ErrorKind::kInvalidArgument, "query embedding has " + std::to_string(query.size()) +
                                                 " dims but the index holds " +
                                                 std::to_string(dim_) + "-dim embeddings");
  }
  auto& h = *impl_->hnsw;
  if (k == 0 || live_count() == 0) return {};
  h.setEf(std::max(ef, k));
  auto queue = h.searchKnn(query.data(), k);
  std::vector<Neighbor> out(queue.size());
  for (size_t i = queue.size(); i-- > 0;) {
    out[i] = {static_cast<int64_t>(queue.top().second), 1.0f - queue.top().first};
    queue.pop();
  }
  return out;
}

std::vector<Neighbor> AnnIndex::exact_search(std::span<const float> query, size_t k) const {
  if (query.size() != static_cast<size_t>(dim_)) {
    throw Error(ErrorKind::kInvalidArgument, "query embedding has " + std::to_string(query.size()) +
                                                 " dims but the index holds " +
                                                 std::to_string(dim_) + "-dim embeddings");
  }
  const auto& h = *impl_->hnsw;
  if (k == 0) return {};
  // Min-heap on similarity of the best k so far; ties keep the lower id.
  auto worse = [](const Neighbor& a, const Neighbor& b) {
    return a.similarity != b.similarity ? a.similarity > b.similarity : a.id < b.id;
  };
  std::vector<Neighbor> heap;
  heap.reserve(k + 1);
  for (hnswlib::tableint i = 0; i < h.cur_element_count; ++i) {
    if (h.isMarkedDeleted(i)) continue;
    const float sim =
        1.0f - h.fstdistfunc_(query.data(), h.getDataByInternalId(i), h.dist_func_param_);
    const Neighbor n{static_cast<int64_t>(h.getExternalLabel(i)), sim};
    if (heap.size() < k) {
      heap.push_back(n);
      std::push_heap(heap.begin(), heap.end(), worse);
    } else if (worse(n, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      heap.back() = n;
      std::push_heap(heap.begin(), heap.end(), worse);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), worse);
  return heap;
}

}  // namespace clipmind::index
