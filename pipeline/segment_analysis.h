// Per-segment analysis for the archive index (issue "Retrieval index"): a video becomes
// scene-aware segments, each with a SigLIP image embedding (the normalised mean of its frames'
// embeddings from the dual encoder, relevance_model), a JPEG thumbnail (decode's image writer)
// and, optionally, a caption from the VLM. The index job stores the result with
// index::Store::commit_video; search embeds queries with embed_query().
//
// Segments: scene cuts from low-resolution probe frames (select.scene_threshold,
// select.scene_max_probe_frames), joined below caption.min_segment_s and split above
// caption.max_segment_s (caption_spans.h). Frames per segment: `frames_per_segment`, evenly
// inside it. Memory is bounded by one micro-batch of frames plus one embedding per segment.
// Needs relevance_model (StageError kInvalidArgument with a hint otherwise). Progress stages
// "probe", "load model", "scenes", "embed", "thumbnails", "captions"; cancellable.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "index/store.h"
#include "pipeline/job_types.h"
#include "pipeline/session.h"

namespace clipmind::pipeline {

struct SegmentAnalysisOptions {
  bool captions = false;
  int64_t frames_per_segment = 4;
  int thumbnail_width = 192;  // the thumbnail fits in this box, aspect ratio kept
  int thumbnail_height = 108;
  int jpeg_quality = 80;
};

struct SegmentAnalysis {
  VideoSummary video;
  std::string embedding_model;  // the relevance model's id (one index = one embedding model)
  std::vector<index::Segment> segments;
};

SegmentAnalysis analyze_segments(Session& session, const std::filesystem::path& video,
                                 const SegmentAnalysisOptions& options = {},
                                 const JobCallbacks& callbacks = {},
                                 const CancelToken& cancel = {});

// The dual encoder's text embedding of a query, L2-normalised (for index searches).
std::vector<float> embed_query(Session& session, const std::string& text);

}  // namespace clipmind::pipeline
