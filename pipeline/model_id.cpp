#include "pipeline/model_id.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <vector>

#include "clipmind/error.h"
#include "models/hub/model_folder.h"
#include "pipeline/content_hash.h"

namespace clipmind::pipeline {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kSampleBytes = 64 * 1024;
constexpr uint64_t kSamples = 8;
// Real headers are a few hundred KiB at most; a larger length is a damaged file, and then the
// file is sampled as a whole instead.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

class Reader {
 public:
  explicit Reader(const fs::path& file) : file_(file), in_(file, std::ios::binary) {
    if (!in_) throw Error(ErrorKind::kIo, file.string() + ": cannot open the model file to read");
  }
  std::string read(uint64_t offset, uint64_t size) {
    std::string out(size, '\0');
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(out.data(), static_cast<std::streamsize>(size));
    if (static_cast<uint64_t>(in_.gcount()) != size) {
      throw Error(ErrorKind::kIo, file_.string() + ": cannot read " + std::to_string(size) +
                                      " bytes at offset " + std::to_string(offset) +
                                      " (the file changed or is damaged?)");
    }
    return out;
  }

 private:
  fs::path file_;
  std::ifstream in_;
};

uint64_t size_of(const fs::path& file) {
  std::error_code ec;
  const uint64_t size = fs::file_size(file, ec);
  if (ec) throw Error(ErrorKind::kIo, file.string() + ": cannot read its size: " + ec.message());
  return size;
}

// Hash of the blocks of [begin, end) described in the header comment.
std::string sample_hash(Reader& reader, uint64_t begin, uint64_t end) {
  const uint64_t length = end - begin;
  if (length <= kSamples * kSampleBytes) return sha256_hex(reader.read(begin, length));
  std::string blocks;
  blocks.reserve(kSamples * kSampleBytes);
  const uint64_t last_start = length - kSampleBytes;
  for (uint64_t k = 0; k < kSamples; ++k) {
    const uint64_t at = begin + last_start * k / (kSamples - 1);
    blocks += reader.read(at, kSampleBytes);
  }
  return sha256_hex(blocks);
}

std::string weights_material(const fs::path& file) {
  const uint64_t size = size_of(file);
  Reader reader(file);
  std::ostringstream out;
  out << size;
  uint64_t header_length = 0;
  if (size >= 8) {
    const std::string prefix = reader.read(0, 8);
    for (int i = 7; i >= 0; --i)
      header_length = (header_length << 8) | static_cast<unsigned char>(prefix[i]);
  }
  if (size >= 8 && header_length <= kMaxHeaderBytes && header_length <= size - 8) {
    out << " header " << sha256_hex(reader.read(8, header_length)) << " data "
        << sample_hash(reader, 8 + header_length, size);
  } else {
    out << " raw " << sample_hash(reader, 0, size);
  }
  return out.str();
}

std::string whole_file_hash(const fs::path& file) {
  const uint64_t size = size_of(file);
  Reader reader(file);
  return std::to_string(size) + ' ' + sha256_hex(reader.read(0, size));
}

}  // namespace

std::string model_folder_id(const fs::path& dir) {
  std::vector<std::string> small = {models::hub::kConfigFile, models::hub::kWeightsIndexFile};
  for (const std::string& name : models::hub::optional_model_files())
    small.push_back(name);
  std::sort(small.begin(), small.end());
  small.erase(std::unique(small.begin(), small.end()), small.end());

  std::ostringstream material;
  material << "clipmind-model-id-v2\n";
  std::error_code ec;
  for (const std::string& name : small) {
    const fs::path file = dir / name;
    // is_regular_file follows symlinks (Hugging Face snapshots); a dangling link is absent.
    if (!fs::is_regular_file(file, ec)) continue;
    material << "file " << name << ' ' << whole_file_hash(file) << '\n';
  }
  std::vector<std::string> weights;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 12 && name.ends_with(".safetensors") && fs::is_regular_file(entry.path(), ec))
      weights.push_back(name);
  }
  if (ec)
    throw Error(ErrorKind::kIo, dir.string() + ": cannot list the model folder: " + ec.message());
  std::sort(weights.begin(), weights.end());
  for (const std::string& name : weights)
    material << "weights " << name << ' ' << weights_material(dir / name) << '\n';
  return "m2-" + sha256_hex(material.str()).substr(0, 32);
}

std::string legacy_model_folder_id(const fs::path& dir) {
  // Unchanged from clipmind's first model id: it must reproduce ids stored in old indexes.
  std::ostringstream material;
  material << "clipmind-model-id-v1\n" << fs::absolute(dir).lexically_normal().string() << '\n';
  {
    std::ifstream in(dir / "config.json", std::ios::binary);
    material << in.rdbuf();
  }
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 12 && name.ends_with(".safetensors")) {
      const fs::path target = fs::canonical(entry.path(), ec);
      const auto size = fs::file_size(target, ec);
      const auto time = fs::last_write_time(target, ec).time_since_epoch().count();
      std::ostringstream line;
      line << name << ' ' << size << ' ' << time;
      files.push_back(line.str());
    }
  }
  std::sort(files.begin(), files.end());
  for (const std::string& f : files)
    material << '\n' << f;
  return sha256_hex(material.str()).substr(0, 32);
}

std::string short_model_id(const std::string& id) {
  const std::string hash = id.starts_with("m2-") ? id.substr(3) : id;
  return hash.substr(0, 12);
}

}  // namespace clipmind::pipeline
