#include "decode/internal/frame_converter.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

#include <algorithm>
#include <cmath>
#include <cstring>

#include "clipmind/error.h"

namespace clipmind::decode::internal {
namespace {

// FFmpeg's "J" formats are ordinary YUV with full range; swscale prefers the plain name.
AVPixelFormat plain_format(AVPixelFormat f, bool& full_range) {
  switch (f) {
    case AV_PIX_FMT_YUVJ420P:
      full_range = true;
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
      full_range = true;
      return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
      full_range = true;
      return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
      full_range = true;
      return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
      full_range = true;
      return AV_PIX_FMT_YUV411P;
    default:
      return f;
  }
}

int sws_colorspace(const AVFrame* f) {
  switch (f->colorspace) {
    case AVCOL_SPC_BT709:
      return SWS_CS_ITU709;
    case AVCOL_SPC_FCC:
      return SWS_CS_FCC;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M:
      return SWS_CS_ITU601;
    case AVCOL_SPC_SMPTE240M:
      return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
      return SWS_CS_BT2020;
    default:
      // Untagged: the common convention is BT.709 for HD sizes, BT.601 below.
      return f->height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601;
  }
}

}  // namespace

Geometry plan_geometry(int coded_width, int coded_height, Rational sar, int rotation, int width,
                       int height, bool fit) {
  Geometry g;
  int dw = std::max(1, coded_width);
  int dh = std::max(1, coded_height);
  const double s = sar.value();
  if (s > 1.0) dw = std::max(1, static_cast<int>(std::lround(dw * s)));
  if (s > 0.0 && s < 1.0) dh = std::max(1, static_cast<int>(std::lround(dh / s)));
  const bool quarter = rotation == 90 || rotation == 270;
  if (quarter) std::swap(dw, dh);
  g.display_width = dw;
  g.display_height = dh;

  int ow = dw;
  int oh = dh;
  if (width > 0 || height > 0) {
    if (fit || width <= 0 || height <= 0) {
      double scale;
      if (width <= 0) {
        scale = static_cast<double>(height) / dh;
      } else if (height <= 0) {
        scale = static_cast<double>(width) / dw;
      } else {
        scale = std::min(static_cast<double>(width) / dw, static_cast<double>(height) / dh);
      }
      ow = std::max(1, static_cast<int>(std::lround(dw * scale)));
      oh = std::max(1, static_cast<int>(std::lround(dh * scale)));
      if (width > 0) ow = std::min(ow, width);
      if (height > 0) oh = std::min(oh, height);
    } else {
      ow = width;
      oh = height;
    }
  }
  g.out_width = ow;
  g.out_height = oh;
  g.scaled_width = quarter ? oh : ow;
  g.scaled_height = quarter ? ow : oh;
  return g;
}

void rotate_rgb(const uint8_t* src, int w, int h, int rotation, uint8_t* dst) {
  const size_t src_stride = static_cast<size_t>(w) * 3;
  switch (rotation) {
    case 90: {  // output is h wide, w high: out(r, c) = in(h - 1 - c, r)
      const size_t dst_stride = static_cast<size_t>(h) * 3;
      for (int r = 0; r < w; ++r) {
        uint8_t* out = dst + r * dst_stride;
        for (int c = 0; c < h; ++c) {
          std::memcpy(out + c * 3, src + (h - 1 - c) * src_stride + r * 3, 3);
        }
      }
      break;
    }
    case 180:
      for (int r = 0; r < h; ++r) {
        uint8_t* out = dst + r * src_stride;
        const uint8_t* in = src + (h - 1 - r) * src_stride;
        for (int c = 0; c < w; ++c)
          std::memcpy(out + c * 3, in + (w - 1 - c) * 3, 3);
      }
      break;
    case 270: {  // out(r, c) = in(c, w - 1 - r)
      const size_t dst_stride = static_cast<size_t>(h) * 3;
      for (int r = 0; r < w; ++r) {
        uint8_t* out = dst + r * dst_stride;
        for (int c = 0; c < h; ++c) {
          std::memcpy(out + c * 3, src + c * src_stride + (w - 1 - r) * 3, 3);
        }
      }
      break;
    }
    default:
      std::memcpy(dst, src, src_stride * h);
  }
}

FrameConverter::FrameConverter(int width, int height, bool fit, int rotation, Rational sar,
                               bool deinterlace)
    : width_(width),
      height_(height),
      fit_(fit),
      rotation_(rotation),
      sar_(sar),
      deinterlace_(deinterlace) {}

Frame FrameConverter::convert(const AVFrame* decoded, double time) {
  // Fields are interpolated at the coded size: scaling first would blend the two fields'
  // lines into each other and leave the combing in, smeared.
  const AVFrame* src = decoded;
  deinterlace_failure_.clear();
  if (deinterlace_ && frame_is_interlaced(decoded)) {
    av_frame_unref(progressive_.get());
    if (deinterlacer_.run(decoded, progressive_.get(), deinterlace_failure_)) {
      src = progressive_.get();
      ++deinterlaced_;
    }
  }
  const Geometry g = plan_geometry(src->width, src->height, sar_, rotation_, width_, height_, fit_);
  bool full_range = src->color_range == AVCOL_RANGE_JPEG;
  const AVPixelFormat format = plain_format(static_cast<AVPixelFormat>(src->format), full_range);

  const int flags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP;
  sws_ = sws_getCachedContext(owner_.release(), src->width, src->height, format, g.scaled_width,
                              g.scaled_height, AV_PIX_FMT_RGB24, flags, nullptr, nullptr, nullptr);
  owner_.reset(sws_);
  if (!sws_) {
    const char* name = av_get_pix_fmt_name(format);
    throw Error(ErrorKind::kUnsupported,
                std::string("cannot convert pixel format ") + (name ? name : "?") + " to RGB");
  }
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
  if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB)) {
    const int* coefficients = sws_getCoefficients(sws_colorspace(src));
    sws_setColorspaceDetails(sws_, coefficients, full_range ? 1 : 0,
                             sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
  }

  Frame frame;
  frame.width = g.out_width;
  frame.height = g.out_height;
  frame.time = time;
#if LIBAVUTIL_VERSION_MAJOR >= 59 || \
    (LIBAVUTIL_VERSION_MAJOR == 58 && LIBAVUTIL_VERSION_MINOR >= 29)
  frame.keyframe = (decoded->flags & AV_FRAME_FLAG_KEY) != 0;
#else
  frame.keyframe = decoded->key_frame != 0;
#endif
  frame.rgb.resize(static_cast<size_t>(g.out_width) * g.out_height * 3);

  const size_t scaled_bytes = static_cast<size_t>(g.scaled_width) * g.scaled_height * 3;
  uint8_t* target = frame.rgb.data();
  if (rotation_ != 0) {
    scratch_.resize(scaled_bytes);
    target = scratch_.data();
  }
  uint8_t* dst_data[4] = {target, nullptr, nullptr, nullptr};
  int dst_linesize[4] = {g.scaled_width * 3, 0, 0, 0};
  const int rows =
      sws_scale(sws_, src->data, src->linesize, 0, src->height, dst_data, dst_linesize);
  if (rows != g.scaled_height) {
    throw Error(ErrorKind::kInternal, "swscale produced " + std::to_string(rows) + " of " +
                                          std::to_string(g.scaled_height) + " rows");
  }
  if (rotation_ != 0) {
    rotate_rgb(scratch_.data(), g.scaled_width, g.scaled_height, rotation_, frame.rgb.data());
  }
  return frame;
}

}  // namespace clipmind::decode::internal
