// libclipmind_spm_shim.so: a C interface to libsentencepiece (and its trainer), loaded by
// sentencepiece_model.cpp with dlopen(RTLD_LOCAL | RTLD_DEEPBIND).
//
// Why a separate library: Debian's libsentencepiece embeds its own copy of protobuf-lite and
// exports those symbols, while LibTorch loads the system libprotobuf. Linked into one program,
// each library's protobuf calls bind to the other's copy and the process crashes in a static
// initialiser before main(). Loaded privately, libsentencepiece keeps its own protobuf and the
// rest of the program never sees it. Only plain C types cross this boundary.
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

// sentencepiece's logging threshold (exported by libsentencepiece, not declared in its public
// headers; weak so the shim still links against a build without it). Its log lines go to
// std::cerr, which under RTLD_DEEPBIND is not the stream the program initialised (the program's
// copy-relocated std::cerr wins globally), so writing to it crashes: keep it silent. Errors still
// come back as statuses.
namespace sentencepiece::logging {
__attribute__((weak)) void SetMinLogLevel(int v);
}

namespace {

void silence_logging() {
  if (&sentencepiece::logging::SetMinLogLevel != nullptr)
    sentencepiece::logging::SetMinLogLevel(100);
}

void set_error(char* err, size_t cap, const std::string& message) {
  if (!err || cap == 0) return;
  const size_t n = std::min(cap - 1, message.size());
  std::memcpy(err, message.data(), n);
  err[n] = '\0';
}

class LinesIterator : public sentencepiece::SentenceIterator {
 public:
  LinesIterator(const char* const* lines, size_t count) : lines_(lines), count_(count) { load(); }
  bool done() const override { return index_ >= count_; }
  void Next() override {
    ++index_;
    load();
  }
  const std::string& value() const override { return current_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (index_ < count_) current_ = lines_[index_];
  }
  const char* const* lines_;
  size_t count_;
  size_t index_ = 0;
  std::string current_;
};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* cm_spm_new(const char* bytes, size_t size, char* err,
                                                        size_t err_cap) {
  silence_logging();
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->LoadFromSerializedProto(std::string(bytes, size));
  if (!status.ok()) {
    set_error(err, err_cap, status.ToString());
    return nullptr;
  }
  return sp.release();
}

__attribute__((visibility("default"))) void cm_spm_free(void* handle) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

__attribute__((visibility("default"))) int cm_spm_size(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->GetPieceSize();
}

__attribute__((visibility("default"))) int cm_spm_unk_id(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->unk_id();
}

__attribute__((visibility("default"))) int cm_spm_piece_to_id(void* handle, const char* piece,
                                                              size_t size) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->PieceToId(
      std::string(piece, size));
}

// Copies the piece (no terminator) into buf; returns its length (call again with more room
// when it exceeds cap), -1 for an id out of range.
__attribute__((visibility("default"))) long cm_spm_id_to_piece(void* handle, int id, char* buf,
                                                               size_t cap) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  if (id < 0 || id >= sp->GetPieceSize()) return -1;
  const std::string& piece = sp->IdToPiece(id);
  if (piece.size() <= cap) std::memcpy(buf, piece.data(), piece.size());
  return static_cast<long>(piece.size());
}

// Encodes into ids; returns the count (call again with more room when it exceeds cap), or -1
// with err set.
__attribute__((visibility("default"))) long cm_spm_encode(void* handle, const char* text,
                                                          size_t size, int* out, size_t cap,
                                                          char* err, size_t err_cap) {
  std::vector<int> ids;
  const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Encode(
      std::string(text, size), &ids);
  if (!status.ok()) {
    set_error(err, err_cap, status.ToString());
    return -1;
  }
  if (ids.size() <= cap) std::copy(ids.begin(), ids.end(), out);
  return static_cast<long>(ids.size());
}

// Trains a model from `count` lines with `arg_count` key/value pairs (keys[i] = values[i]);
// calls sink(ctx, data, size) once with the serialized model. Returns 0, or -1 with err set.
__attribute__((visibility("default"))) int cm_spm_train(const char* const* lines, size_t count,
                                                        const char* const* keys,
                                                        const char* const* values, size_t arg_count,
                                                        void (*sink)(void*, const char*, size_t),
                                                        void* ctx, char* err, size_t err_cap) {
  silence_logging();
  std::unordered_map<std::string, std::string> args;
  for (size_t i = 0; i < arg_count; ++i)
    args[keys[i]] = values[i];
  LinesIterator it(lines, count);
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &model);
  if (!status.ok()) {
    set_error(err, err_cap, status.ToString());
    return -1;
  }
  sink(ctx, model.data(), model.size());
  return 0;
}

}  // extern "C"
