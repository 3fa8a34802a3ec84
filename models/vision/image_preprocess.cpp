#include "models/vision/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/weights/config_check.h"
#include "models/weights/json_file.h"

namespace clipmind::models {
namespace fs = std::filesystem;
namespace {

std::array<double, 3> three_numbers(const nlohmann::json& c, const char* key,
                                    const std::string& where) {
  const auto it = c.find(key);
  if (it == c.end() || it->is_null()) {
    config_invalid(where, std::string("missing \"") + key +
                              "\" (clipmind does not guess normalisation constants)");
  }
  std::array<double, 3> out{};
  if (it->is_number()) {
    out.fill(it->get<double>());
  } else if (it->is_array() && it->size() == 3 &&
             std::all_of(it->begin(), it->end(), [](const auto& v) { return v.is_number(); })) {
    for (size_t i = 0; i < 3; ++i)
      out[i] = (*it)[i].get<double>();
  } else {
    config_invalid(where, std::string("\"") + key + "\" must be a number or a list of 3 numbers");
  }
  for (const double v : out) {
    if (!std::isfinite(v)) config_invalid(where, std::string("\"") + key + "\" must be finite");
  }
  return out;
}

// Pillow's filters (Imaging/Resample.c).
struct Filter {
  double support;
  double (*fn)(double);
};

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

double bilinear_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

Filter filter_for(Resample r) {
  return r == Resample::kBicubic ? Filter{2.0, &bicubic_filter} : Filter{1.0, &bilinear_filter};
}

// Per output pixel: first input index, tap count, and `ksize` normalised weights.
struct Taps {
  int64_t ksize = 0;
  std::vector<int64_t> first;
  std::vector<int64_t> count;
  std::vector<double> weights;  // [out * ksize]
  std::vector<int32_t> fixed;   // weights in 22-bit fixed point (Pillow's 8-bit path)
};

constexpr int kPrecisionBits = 32 - 8 - 2;

Taps precompute_taps(int64_t in_size, int64_t out_size, const Filter& filter) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = filter.support * filterscale;
  Taps taps;
  taps.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  taps.first.resize(static_cast<size_t>(out_size));
  taps.count.resize(static_cast<size_t>(out_size));
  taps.weights.assign(static_cast<size_t>(out_size * taps.ksize), 0.0);
  taps.fixed.assign(taps.weights.size(), 0);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (static_cast<double>(xx) + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // C truncation toward zero, as Pillow's (int) casts.
    int64_t xmin = static_cast<int64_t>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double* k = &taps.weights[static_cast<size_t>(xx * taps.ksize)];
    double ww = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      const double w = filter.fn((static_cast<double>(x + xmin) - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int64_t x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
    }
    taps.first[static_cast<size_t>(xx)] = xmin;
    taps.count[static_cast<size_t>(xx)] = xmax;
  }
  for (size_t i = 0; i < taps.weights.size(); ++i) {
    const double w = taps.weights[i] * static_cast<double>(1 << kPrecisionBits);
    taps.fixed[i] = static_cast<int32_t>(w < 0 ? -0.5 + w : 0.5 + w);
  }
  return taps;
}

inline uint8_t clip8(int64_t in) {
  if (in >= (int64_t{1} << kPrecisionBits << 8)) return 255;
  if (in <= 0) return 0;
  return static_cast<uint8_t>(in >> kPrecisionBits);
}

inline uint8_t round8(double v) {
  // torchvision: clamp to [0, 255] then round half to even.
  v = std::clamp(v, 0.0, 255.0);
  return static_cast<uint8_t>(std::nearbyint(v));
}

// Pillow: horizontal pass into uint8 rows, then vertical pass into uint8.
void resize_pillow(const RgbImageView& in, int64_t out_h, int64_t out_w, const Filter& filter,
                   uint8_t* out) {
  const bool horizontal = out_w != in.width;
  const bool vertical = out_h != in.height;
  const int64_t stride = in.stride();
  std::vector<uint8_t> mid;
  const uint8_t* src = in.data;
  int64_t src_stride = stride;
  int64_t src_rows = in.height;
  if (horizontal) {
    const Taps t = precompute_taps(in.width, out_w, filter);
    mid.resize(static_cast<size_t>(in.height * out_w * 3));
    for (int64_t y = 0; y < in.height; ++y) {
      const uint8_t* row = in.data + y * stride;
      uint8_t* dst = mid.data() + y * out_w * 3;
      for (int64_t xx = 0; xx < out_w; ++xx) {
        const int32_t* k = &t.fixed[static_cast<size_t>(xx * t.ksize)];
        const int64_t x0 = t.first[static_cast<size_t>(xx)];
        const int64_t n = t.count[static_cast<size_t>(xx)];
        int64_t s0 = int64_t{1} << (kPrecisionBits - 1);
        int64_t s1 = s0;
        int64_t s2 = s0;
        for (int64_t x = 0; x < n; ++x) {
          const uint8_t* px = row + (x0 + x) * 3;
          s0 += px[0] * static_cast<int64_t>(k[x]);
          s1 += px[1] * static_cast<int64_t>(k[x]);
          s2 += px[2] * static_cast<int64_t>(k[x]);
        }
        dst[xx * 3 + 0] = clip8(s0);
        dst[xx * 3 + 1] = clip8(s1);
        dst[xx * 3 + 2] = clip8(s2);
      }
    }
    src = mid.data();
    src_stride = out_w * 3;
  }
  if (!vertical) {
    for (int64_t y = 0; y < src_rows; ++y)
      std::copy_n(src + y * src_stride, out_w * 3, out + y * out_w * 3);
    return;
  }
  const Taps t = precompute_taps(in.height, out_h, filter);
  for (int64_t yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &t.fixed[static_cast<size_t>(yy * t.ksize)];
    const int64_t y0 = t.first[static_cast<size_t>(yy)];
    const int64_t n = t.count[static_cast<size_t>(yy)];
    uint8_t* dst = out + yy * out_w * 3;
    for (int64_t xc = 0; xc < out_w * 3; ++xc) {
      int64_t s = int64_t{1} << (kPrecisionBits - 1);
      for (int64_t y = 0; y < n; ++y)
        s += src[(y0 + y) * src_stride + xc] * static_cast<int64_t>(k[y]);
      dst[xc] = clip8(s);
    }
  }
}

// Float passes, rounded once at the end (torchvision's float path).
void resize_float(const RgbImageView& in, int64_t out_h, int64_t out_w, const Filter& filter,
                  uint8_t* out) {
  const int64_t stride = in.stride();
  const Taps th = precompute_taps(in.width, out_w, filter);
  const Taps tv = precompute_taps(in.height, out_h, filter);
  std::vector<double> mid(static_cast<size_t>(in.height * out_w * 3));
  for (int64_t y = 0; y < in.height; ++y) {
    const uint8_t* row = in.data + y * stride;
    for (int64_t xx = 0; xx < out_w; ++xx) {
      const double* k = &th.weights[static_cast<size_t>(xx * th.ksize)];
      const int64_t x0 = th.first[static_cast<size_t>(xx)];
      double s[3] = {0, 0, 0};
      for (int64_t x = 0; x < th.count[static_cast<size_t>(xx)]; ++x) {
        for (int c = 0; c < 3; ++c)
          s[c] += row[(x0 + x) * 3 + c] * k[x];
      }
      for (int c = 0; c < 3; ++c)
        mid[static_cast<size_t>((y * out_w + xx) * 3 + c)] = s[c];
    }
  }
  for (int64_t yy = 0; yy < out_h; ++yy) {
    const double* k = &tv.weights[static_cast<size_t>(yy * tv.ksize)];
    const int64_t y0 = tv.first[static_cast<size_t>(yy)];
    for (int64_t xc = 0; xc < out_w * 3; ++xc) {
      double s = 0;
      for (int64_t y = 0; y < tv.count[static_cast<size_t>(yy)]; ++y)
        s += mid[static_cast<size_t>((y0 + y) * out_w * 3 + xc)] * k[y];
      out[yy * out_w * 3 + xc] = round8(s);
    }
  }
}

void check_view(const RgbImageView& v, size_t index) {
  if (!v.data || v.height <= 0 || v.width <= 0 || v.stride() < v.width * 3) {
    throw Error(ErrorKind::kInvalidArgument, "frame " + std::to_string(index) +
                                                 ": invalid RGB view (" + std::to_string(v.width) +
                                                 "x" + std::to_string(v.height) + ", stride " +
                                                 std::to_string(v.stride()) + ")");
  }
}

}  // namespace

PreprocessConfig parse_preprocess_config(const nlohmann::json& c, const std::string& where) {
  if (!c.is_object()) config_invalid(where, "is not a JSON object");
  PreprocessConfig config;
  config.source = where;
  config.do_resize = json_opt_bool(c, "do_resize", where).value_or(true);
  if (const auto it = c.find("size"); it != c.end() && !it->is_null()) {
    if (it->is_number_integer()) {
      config.height = config.width = it->get<int64_t>();
    } else if (it->is_object() && it->contains("height") && it->contains("width")) {
      config.height = json_get_int(*it, "height", where + " size");
      config.width = json_get_int(*it, "width", where + " size");
    } else if (it->is_object() && it->contains("shortest_edge")) {
      config_unsupported(where,
                         "\"size\" {\"shortest_edge\"} (aspect-preserving resize) is not "
                         "supported; SigLIP models resize to {\"height\", \"width\"}");
    } else {
      config_invalid(where, "\"size\" must be {\"height\": H, \"width\": W} or an integer");
    }
  } else if (config.do_resize) {
    config_invalid(where, "missing \"size\"");
  }
  if (config.height <= 0 || config.width <= 0 || config.height > 16384 || config.width > 16384)
    config_invalid(where, "\"size\" must be positive (and at most 16384)");
  const int64_t resample = json_opt_int(c, "resample", where).value_or(3);
  if (resample == 3) {
    config.resample = Resample::kBicubic;
  } else if (resample == 2) {
    config.resample = Resample::kBilinear;
  } else {
    config_unsupported(where, "\"resample\" " + std::to_string(resample) +
                                  " is not supported (2 = bilinear, 3 = bicubic)");
  }
  if (json_opt_bool(c, "do_center_crop", where).value_or(false))
    config_unsupported(where, "\"do_center_crop\": true is not supported");
  if (json_opt_bool(c, "do_pad", where).value_or(false))
    config_unsupported(where, "\"do_pad\": true is not supported");
  config.do_rescale = json_opt_bool(c, "do_rescale", where).value_or(true);
  config.rescale_factor = json_opt_number(c, "rescale_factor", where).value_or(1.0 / 255.0);
  if (!(config.rescale_factor > 0) || !std::isfinite(config.rescale_factor))
    config_invalid(where, "\"rescale_factor\" must be positive");
  config.do_normalize = json_opt_bool(c, "do_normalize", where).value_or(true);
  if (config.do_normalize) {
    config.mean = three_numbers(c, "image_mean", where);
    config.std = three_numbers(c, "image_std", where);
    for (const double s : config.std) {
      if (s == 0) config_invalid(where, "\"image_std\" must not contain 0");
    }
  }
  return config;
}

fs::path find_preprocess_config(const fs::path& model_dir, bool video) {
  std::error_code ec;
  std::vector<fs::path> candidates;
  if (video) {
    candidates.push_back(model_dir / "video_preprocessor_config.json");
    candidates.push_back(model_dir / "video_processor" / "preprocessor_config.json");
  }
  candidates.push_back(model_dir / "preprocessor_config.json");
  for (const auto& path : candidates) {
    if (fs::is_regular_file(path, ec)) return path;
  }
  return {};
}

PreprocessConfig read_preprocess_config(const fs::path& model_dir, bool video) {
  const fs::path path = find_preprocess_config(model_dir, video);
  if (path.empty()) {
    throw Error(ErrorKind::kNotFound,
                model_dir.string() + ": no preprocessor_config.json" +
                    (video ? " (nor video_preprocessor_config.json)" : "") +
                    "; it holds the image size and normalisation the model was trained with");
  }
  return parse_preprocess_config(read_json_file(path), path.string());
}

void resize_rgb(const RgbImageView& image, int64_t out_h, int64_t out_w, Resample filter,
                ResizeArithmetic arithmetic, uint8_t* out) {
  check_view(image, 0);
  if (out_h <= 0 || out_w <= 0) throw Error(ErrorKind::kInvalidArgument, "resize to empty size");
  if (arithmetic == ResizeArithmetic::kPillow8Bit) {
    resize_pillow(image, out_h, out_w, filter_for(filter), out);
  } else {
    resize_float(image, out_h, out_w, filter_for(filter), out);
  }
}

at::Tensor preprocess_frames(std::span<const RgbImageView> frames, const PreprocessConfig& config,
                             at::ScalarType dtype, at::Device device, int64_t size_override) {
  for (size_t i = 0; i < frames.size(); ++i)
    check_view(frames[i], i);
  int64_t h = config.height;
  int64_t w = config.width;
  if (size_override > 0) h = w = size_override;
  if (!config.do_resize && size_override <= 0) {
    if (frames.empty()) return at::empty({0, 3, h, w}, at::TensorOptions(dtype).device(device));
    h = frames[0].height;
    w = frames[0].width;
    for (size_t i = 0; i < frames.size(); ++i) {
      if (frames[i].height != h || frames[i].width != w) {
        throw Error(ErrorKind::kInvalidArgument,
                    config.source + ": do_resize is false but frames differ in size (frame " +
                        std::to_string(i) + ")");
      }
    }
  }
  at::Tensor out = at::empty({static_cast<int64_t>(frames.size()), 3, h, w}, at::kFloat);
  float* base = out.data_ptr<float>();
  // Per channel: value * a + b, computed in double and rounded once to float.
  std::array<double, 3> a{};
  std::array<double, 3> b{};
  const double r = config.do_rescale ? config.rescale_factor : 1.0;
  for (int c = 0; c < 3; ++c) {
    const double mean = config.do_normalize ? config.mean[static_cast<size_t>(c)] : 0.0;
    const double sd = config.do_normalize ? config.std[static_cast<size_t>(c)] : 1.0;
    a[static_cast<size_t>(c)] = r / sd;
    b[static_cast<size_t>(c)] = -mean / sd;
  }
  at::parallel_for(0, static_cast<int64_t>(frames.size()), 1, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> resized;
    for (int64_t f = begin; f < end; ++f) {
      const RgbImageView& frame = frames[static_cast<size_t>(f)];
      const uint8_t* src = frame.data;
      int64_t stride = frame.stride();
      if (frame.height != h || frame.width != w) {
        resized.resize(static_cast<size_t>(h * w * 3));
        resize_rgb(frame, h, w, config.resample, config.arithmetic, resized.data());
        src = resized.data();
        stride = w * 3;
      }
      float* dst = base + f * 3 * h * w;
      for (int64_t y = 0; y < h; ++y) {
        const uint8_t* row = src + y * stride;
        for (int64_t x = 0; x < w; ++x) {
          for (int c = 0; c < 3; ++c) {
            const auto cc = static_cast<size_t>(c);
            dst[(c * h + y) * w + x] = static_cast<float>(row[x * 3 + c] * a[cc] + b[cc]);
          }
        }
      }
    }
  });
  if (dtype == at::kFloat && device.is_cpu()) return out;
  return out.to(device, dtype);
}

}  // namespace clipmind::models
