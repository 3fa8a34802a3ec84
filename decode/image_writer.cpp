#include "decode/image_writer.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"
#include "decode/internal/ffmpeg_log.h"
#include "decode/internal/ffmpeg_ptr.h"

namespace clipmind::decode {
namespace {

using namespace internal;

void check(int ret, const char* what) {
  if (ret < 0) {
    throw Error(ErrorKind::kInternal,
                std::string("image encoder: ") + what + ": " + av_error_text(ret));
  }
}

}  // namespace

std::vector<uint8_t> encode_image(const Frame& frame, const ImageOptions& options) {
  if (frame.empty() || frame.rgb.size() != static_cast<size_t>(frame.width) * frame.height * 3) {
    throw Error(ErrorKind::kInvalidArgument, "cannot encode an empty or inconsistent frame");
  }
  if (options.jpeg_quality < 1 || options.jpeg_quality > 100) {
    throw Error(ErrorKind::kInvalidArgument, "JPEG quality must be 1..100");
  }
  install_log_router();
  WarningSink sink("image encoder");
  ScopedLogTarget route(&sink);

  const bool jpeg = options.format == ImageFormat::kJpeg;
  const AVCodec* codec = avcodec_find_encoder(jpeg ? AV_CODEC_ID_MJPEG : AV_CODEC_ID_PNG);
  if (!codec) {
    throw Error(ErrorKind::kUnsupported,
                std::string("this FFmpeg build has no ") + (jpeg ? "mjpeg" : "png") + " encoder");
  }
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw std::bad_alloc();
  const AVPixelFormat pix = jpeg ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_RGB24;
  ctx->width = frame.width;
  ctx->height = frame.height;
  ctx->pix_fmt = pix;
  ctx->time_base = AVRational{1, 25};
  int qscale = 0;
  if (jpeg) {
    qscale = std::clamp(
        static_cast<int>(std::lround(31.0 - (options.jpeg_quality - 1) * 29.0 / 99.0)), 2, 31);
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = FF_QP2LAMBDA * qscale;
    ctx->color_range = AVCOL_RANGE_JPEG;
  }
  check(avcodec_open2(ctx.get(), codec, nullptr), "cannot open");

  FramePtr input = make_frame();
  input->format = pix;
  input->width = frame.width;
  input->height = frame.height;
  check(av_frame_get_buffer(input.get(), 0), "cannot allocate a frame");
  if (jpeg) {
    SwsContextPtr sws(sws_getContext(
        frame.width, frame.height, AV_PIX_FMT_RGB24, frame.width, frame.height, AV_PIX_FMT_YUV420P,
        SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr, nullptr, nullptr));
    if (!sws) throw Error(ErrorKind::kInternal, "image encoder: cannot convert RGB to YUV");
    // Full-range output: JPEG's YCbCr uses all 256 levels.
    sws_setColorspaceDetails(sws.get(), sws_getCoefficients(SWS_CS_ITU601), 1,
                             sws_getCoefficients(SWS_CS_ITU601), 1, 0, 1 << 16, 1 << 16);
    const uint8_t* src[4] = {frame.rgb.data(), nullptr, nullptr, nullptr};
    const int src_stride[4] = {frame.width * 3, 0, 0, 0};
    sws_scale(sws.get(), src, src_stride, 0, frame.height, input->data, input->linesize);
    input->quality = ctx->global_quality;
    input->color_range = AVCOL_RANGE_JPEG;
  } else {
    for (int y = 0; y < frame.height; ++y) {
      std::copy_n(frame.row(y), frame.stride(),
                  input->data[0] + static_cast<size_t>(y) * input->linesize[0]);
    }
  }
  input->pts = 0;

  check(avcodec_send_frame(ctx.get(), input.get()), "cannot encode");
  check(avcodec_send_frame(ctx.get(), nullptr), "cannot finish");
  PacketPtr packet = make_packet();
  std::vector<uint8_t> bytes;
  while (true) {
    const int ret = avcodec_receive_packet(ctx.get(), packet.get());
    if (ret == AVERROR_EOF) break;
    check(ret, "cannot encode");
    bytes.insert(bytes.end(), packet->data, packet->data + packet->size);
    av_packet_unref(packet.get());
  }
  if (bytes.empty()) throw Error(ErrorKind::kInternal, "image encoder produced no data");
  return bytes;
}

void write_image(const Frame& frame, const std::filesystem::path& path,
                 const ImageOptions& options) {
  const std::vector<uint8_t> bytes = encode_image(frame, options);
  AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

ImageFormat image_format_for(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".png") return ImageFormat::kPng;
  if (ext == ".jpg" || ext == ".jpeg") return ImageFormat::kJpeg;
  throw Error(ErrorKind::kInvalidArgument,
              path.string() + ": unknown image type (use .jpg, .jpeg or .png)");
}

}  // namespace clipmind::decode
