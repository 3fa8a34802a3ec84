#include "decode/internal/deinterlacer.h"

extern "C" {
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

#include <cstring>
#include <memory>
#include <utility>

#include "decode/internal/ffmpeg_log.h"

namespace clipmind::decode::internal {
namespace {

struct GraphDeleter {
  void operator()(AVFilterGraph* g) const { avfilter_graph_free(&g); }
};
using GraphPtr = std::unique_ptr<AVFilterGraph, GraphDeleter>;

// The planar layout of a semi-planar YUV format (the two chroma components interleaved in one
// plane, as hardware decoders hand frames back), or AV_PIX_FMT_NONE for any other format. By
// name, so that formats this FFmpeg does not know are simply not matched.
AVPixelFormat planar_layout(int format) {
  static constexpr std::pair<const char*, const char*> kLayouts[] = {
      {"nv12", "yuv420p"},       {"nv21", "yuv420p"},       {"p010le", "yuv420p10le"},
      {"p010be", "yuv420p10be"}, {"p016le", "yuv420p16le"}, {"p016be", "yuv420p16be"},
      {"nv16", "yuv422p"},       {"p210le", "yuv422p10le"}, {"p216le", "yuv422p16le"},
      {"nv24", "yuv444p"},       {"nv42", "yuv444p"},       {"p410le", "yuv444p10le"},
      {"p416le", "yuv444p16le"}};
  const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(format));
  if (!name) return AV_PIX_FMT_NONE;
  for (const auto& [semi_planar, planar] : kLayouts) {
    if (std::strcmp(name, semi_planar) == 0) return av_get_pix_fmt(planar);
  }
  return AV_PIX_FMT_NONE;
}

}  // namespace

bool frame_is_interlaced(const AVFrame* frame) {
#if LIBAVUTIL_VERSION_MAJOR >= 59 || (LIBAVUTIL_VERSION_MAJOR == 58 && LIBAVUTIL_VERSION_MINOR >= 7)
  return (frame->flags & AV_FRAME_FLAG_INTERLACED) != 0;
#else
  return frame->interlaced_frame != 0;
#endif
}

bool frame_top_field_first(const AVFrame* frame) {
#if LIBAVUTIL_VERSION_MAJOR >= 59 || (LIBAVUTIL_VERSION_MAJOR == 58 && LIBAVUTIL_VERSION_MINOR >= 7)
  return (frame->flags & AV_FRAME_FLAG_TOP_FIELD_FIRST) != 0;
#else
  return frame->top_field_first != 0;
#endif
}

bool Deinterlacer::run(const AVFrame* decoded, AVFrame* out, std::string& why) {
  // libavfilter's own complaints (an unsupported format) are the reason returned, not damage
  // in the file.
  WarningSink quiet("deinterlace");
  ScopedLogTarget route(&quiet);
  const AVFrame* src = decoded;
  if (const AVPixelFormat planar = planar_layout(decoded->format); planar != AV_PIX_FMT_NONE) {
    // Same size, no scaling: swscale only moves the chroma samples (lines of both fields
    // stay where they are, so the fields are not mixed).
    SwsContext* ctx =
        sws_getCachedContext(to_planar_.release(), decoded->width, decoded->height,
                             static_cast<AVPixelFormat>(decoded->format), decoded->width,
                             decoded->height, planar, SWS_POINT, nullptr, nullptr, nullptr);
    to_planar_.reset(ctx);
    av_frame_unref(planar_.get());
    planar_->format = planar;
    planar_->width = decoded->width;
    planar_->height = decoded->height;
    int ret = ctx ? av_frame_get_buffer(planar_.get(), 0) : AVERROR(EINVAL);
    if (ret >= 0) ret = av_frame_copy_props(planar_.get(), decoded);
    if (ret >= 0) {
      ret = sws_scale(ctx, decoded->data, decoded->linesize, 0, decoded->height, planar_->data,
                      planar_->linesize);
    }
    if (ret < 0) {
      why = std::string("cannot convert ") +
            av_get_pix_fmt_name(static_cast<AVPixelFormat>(decoded->format)) + " to " +
            av_get_pix_fmt_name(planar) + ": " + av_error_text(ret);
      return false;
    }
    src = planar_.get();
  }
  GraphPtr graph(avfilter_graph_alloc());
  if (!graph) throw std::bad_alloc();
  graph->nb_threads = 1;  // the decoders already use the cores
  // No scale filter is slipped in to change the pixel format: the frame goes in and comes out
  // as it was decoded, or not at all.
  avfilter_graph_set_auto_convert(graph.get(), AVFILTER_AUTO_CONVERT_NONE);

  const AVRational sar =
      src->sample_aspect_ratio.num > 0 ? src->sample_aspect_ratio : AVRational{1, 1};
  const std::string args = "video_size=" + std::to_string(src->width) + "x" +
                           std::to_string(src->height) + ":pix_fmt=" + std::to_string(src->format) +
                           ":time_base=1/1" + ":pixel_aspect=" + std::to_string(sar.num) + "/" +
                           std::to_string(sar.den);
  AVFilterContext* source = nullptr;
  AVFilterContext* sink = nullptr;
  AVFilterContext* filter = nullptr;
  const std::string parity = frame_top_field_first(src) ? "tff" : "bff";
  int ret = avfilter_graph_create_filter(&source, avfilter_get_by_name("buffer"), "in",
                                         args.c_str(), nullptr, graph.get());
  if (ret >= 0) {
    ret = avfilter_graph_create_filter(&sink, avfilter_get_by_name("buffersink"), "out", nullptr,
                                       nullptr, graph.get());
  }
  if (ret >= 0) {
    const std::string options = "mode=frame:parity=" + parity + ":deint=all";
    const AVFilter* estdif = avfilter_get_by_name("estdif");
    ret = estdif ? avfilter_graph_create_filter(&filter, estdif, "deinterlace", options.c_str(),
                                                nullptr, graph.get())
                 : AVERROR_FILTER_NOT_FOUND;
  }
  if (ret >= 0) ret = avfilter_link(source, 0, filter, 0);
  if (ret >= 0) ret = avfilter_link(filter, 0, sink, 0);
  if (ret >= 0) ret = avfilter_graph_config(graph.get(), nullptr);
  if (ret >= 0) {
    FramePtr copy = make_frame();
    ret = av_frame_ref(copy.get(), src);
    if (ret >= 0)
      ret = av_buffersrc_add_frame_flags(source, copy.get(), AV_BUFFERSRC_FLAG_KEEP_REF);
  }
  // End of stream: a filter that holds a frame back (for a following one) hands it on now.
  if (ret >= 0) ret = av_buffersrc_add_frame_flags(source, nullptr, 0);
  if (ret >= 0) ret = av_buffersink_get_frame(sink, out);
  if (ret < 0) {
    why = av_error_text(ret);
    const std::string detail = quiet.last_ffmpeg_error();
    if (!detail.empty()) why += " (" + detail + ")";
    return false;
  }
  return true;
}

}  // namespace clipmind::decode::internal
