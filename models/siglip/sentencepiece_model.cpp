#include "models/siglip/sentencepiece_model.h"

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include <dlfcn.h>

#include "clipmind/error.h"

#ifndef CLIPMIND_SPM_SHIM_PATH
#define CLIPMIND_SPM_SHIM_PATH ""
#endif

namespace clipmind::models {
namespace fs = std::filesystem;
namespace {

constexpr const char* kShimName = "libclipmind_spm_shim.so";

// A ModelProto fragment that protobuf merges into the stored normalizer_spec (field 3), setting
// its add_dummy_prefix (field 3) to false: the same as transformers' NormalizerSpec MergeFrom.
// Appending a serialized fragment is protobuf's documented merge semantics.
constexpr char kNoDummyPrefix[] = {'\x1A', '\x02', '\x18', '\x00'};

struct ShimApi {
  void* handle = nullptr;
  std::string error;
  void* (*create)(const char*, size_t, char*, size_t) = nullptr;
  void (*destroy)(void*) = nullptr;
  int (*size)(void*) = nullptr;
  int (*unk_id)(void*) = nullptr;
  int (*piece_to_id)(void*, const char*, size_t) = nullptr;
  long (*id_to_piece)(void*, int, char*, size_t) = nullptr;
  long (*encode)(void*, const char*, size_t, int*, size_t, char*, size_t) = nullptr;
  int (*train)(const char* const*, size_t, const char* const*, const char* const*, size_t,
               void (*)(void*, const char*, size_t), void*, char*, size_t) = nullptr;
};

template <typename F>
void bind(ShimApi& api, F& fn, const char* name) {
  if (!api.error.empty()) return;
  void* symbol = dlsym(api.handle, name);
  if (!symbol) {
    api.error = std::string(kShimName) + " has no symbol " + name;
    return;
  }
  fn = reinterpret_cast<F>(symbol);
}

ShimApi load_shim() {
  ShimApi api;
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("CLIPMIND_SPM_SHIM"); env && *env) candidates.emplace_back(env);
  if (*CLIPMIND_SPM_SHIM_PATH) candidates.emplace_back(CLIPMIND_SPM_SHIM_PATH);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back((exe.parent_path() / kShimName).string());
    candidates.push_back((exe.parent_path() / ".." / "lib" / "clipmind" / kShimName).string());
  }
  candidates.emplace_back(kShimName);
  // RTLD_LOCAL keeps libsentencepiece's protobuf symbols away from LibTorch's libprotobuf;
  // RTLD_DEEPBIND makes libsentencepiece use its own copy. AddressSanitizer refuses DEEPBIND.
#if defined(__SANITIZE_ADDRESS__)
  const int mode = RTLD_NOW | RTLD_LOCAL;
#else
  const int mode = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif
  std::string tried;
  for (const auto& path : candidates) {
    if (path.find('/') != std::string::npos && !fs::exists(path, ec)) {
      tried += "\n  " + path + ": no such file";
      continue;
    }
    api.handle = dlopen(path.c_str(), mode);
    if (api.handle) break;
    const char* why = dlerror();
    tried += "\n  " + path + ": " + (why ? why : "dlopen failed");
  }
  if (!api.handle) {
    api.error =
        std::string("cannot load ") + kShimName +
        " (clipmind's bridge to libsentencepiece; set CLIPMIND_SPM_SHIM to its path):" + tried;
    return api;
  }
  bind(api, api.create, "cm_spm_new");
  bind(api, api.destroy, "cm_spm_free");
  bind(api, api.size, "cm_spm_size");
  bind(api, api.unk_id, "cm_spm_unk_id");
  bind(api, api.piece_to_id, "cm_spm_piece_to_id");
  bind(api, api.id_to_piece, "cm_spm_id_to_piece");
  bind(api, api.encode, "cm_spm_encode");
  bind(api, api.train, "cm_spm_train");
  return api;
}

const ShimApi& shim() {
  // Loaded once per process on first use (a function-local static: thread-safe initialisation).
  static const ShimApi api = load_shim();
  if (!api.error.empty()) throw Error(ErrorKind::kUnsupported, api.error);
  return api;
}

}  // namespace

struct SentencePieceModel::Impl {
  const ShimApi* api = nullptr;
  void* handle = nullptr;
  ~Impl() {
    if (handle) api->destroy(handle);
  }
};

SentencePieceModel::~SentencePieceModel() = default;
SentencePieceModel::SentencePieceModel(SentencePieceModel&&) noexcept = default;
SentencePieceModel& SentencePieceModel::operator=(SentencePieceModel&&) noexcept = default;

SentencePieceModel SentencePieceModel::from_serialized(std::string_view bytes,
                                                       const std::string& source,
                                                       bool disable_dummy_prefix) {
  const ShimApi& api = shim();
  std::string data(bytes);
  if (disable_dummy_prefix) data.append(kNoDummyPrefix, sizeof(kNoDummyPrefix));
  char err[512] = {0};
  void* handle = api.create(data.data(), data.size(), err, sizeof(err));
  if (!handle) {
    throw Error(ErrorKind::kInvalidInput,
                source + ": not a valid SentencePiece model (" + std::string(err) + ")");
  }
  SentencePieceModel model;
  model.impl_ = std::make_unique<Impl>();
  model.impl_->api = &api;
  model.impl_->handle = handle;
  return model;
}

std::vector<int> SentencePieceModel::encode(std::string_view text) const {
  std::vector<int> ids(text.size() + 8);
  char err[512] = {0};
  for (;;) {
    const long n = impl_->api->encode(impl_->handle, text.data(), text.size(), ids.data(),
                                      ids.size(), err, sizeof(err));
    if (n < 0) {
      throw Error(ErrorKind::kInvalidInput, std::string("SentencePiece encode failed: ") + err);
    }
    if (static_cast<size_t>(n) <= ids.size()) {
      ids.resize(static_cast<size_t>(n));
      return ids;
    }
    ids.resize(static_cast<size_t>(n));
  }
}

std::vector<std::string> SentencePieceModel::encode_pieces(std::string_view text) const {
  std::vector<std::string> pieces;
  for (const int id : encode(text))
    pieces.push_back(id_to_piece(id));
  return pieces;
}

int SentencePieceModel::piece_to_id(std::string_view piece) const {
  return impl_->api->piece_to_id(impl_->handle, piece.data(), piece.size());
}

std::string SentencePieceModel::id_to_piece(int id) const {
  std::string out(32, '\0');
  for (;;) {
    const long n = impl_->api->id_to_piece(impl_->handle, id, out.data(), out.size());
    if (n < 0) {
      throw Error(ErrorKind::kInvalidArgument,
                  "SentencePiece id " + std::to_string(id) + " is out of range");
    }
    if (static_cast<size_t>(n) <= out.size()) {
      out.resize(static_cast<size_t>(n));
      return out;
    }
    out.resize(static_cast<size_t>(n));
  }
}

int SentencePieceModel::size() const {
  return impl_->api->size(impl_->handle);
}

int SentencePieceModel::unk_id() const {
  return impl_->api->unk_id(impl_->handle);
}

std::string SentencePieceModel::train(
    const std::vector<std::string>& sentences,
    const std::vector<std::pair<std::string, std::string>>& flags) {
  const ShimApi& api = shim();
  std::vector<const char*> lines;
  for (const auto& s : sentences)
    lines.push_back(s.c_str());
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [k, v] : flags) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  std::string model;
  char err[512] = {0};
  const int rc = api.train(
      lines.data(), lines.size(), keys.data(), values.data(), keys.size(),
      [](void* ctx, const char* data, size_t size) {
        static_cast<std::string*>(ctx)->assign(data, size);
      },
      &model, err, sizeof(err));
  if (rc != 0)
    throw Error(ErrorKind::kInternal, std::string("SentencePiece training failed: ") + err);
  return model;
}

}  // namespace clipmind::models
