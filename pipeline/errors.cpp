#include "pipeline/errors.h"

#include <cstring>
#include <new>
#include <optional>
#include <system_error>

#include "models/non_finite.h"

namespace clipmind::pipeline {

namespace {

std::string compose(const std::string& stage, const std::string& file, const std::string& message) {
  std::string out;
  if (!file.empty() && message.rfind(file, 0) != 0) out += file + ": ";
  if (!stage.empty()) out += stage + ": ";
  return out + message;
}

// A model whose forward pass gave NaN or infinity (models/non_finite.h): the weights, not the
// video or the question. The SigLIP dual encoder is the relevance model (frame selection, index
// embeddings, search queries); every other model run is the --model VLM.
std::string damaged_model_hint(const std::string& stage) {
  if (stage == "relevance" || stage == "select" || stage == "embed" || stage == "search") {
    return "The relevance model's weights look damaged: download it again or pass another "
           "--relevance-model.";
  }
  return "The model's weights look damaged: download it again or pass another --model (with "
         "dtype float16, try --set dtype=\"bfloat16\" or \"float32\").";
}

std::string default_hint(ErrorKind kind, const std::string& stage) {
  switch (kind) {
    case ErrorKind::kNotFound:
      if (stage == "load model") {
        return "Pass --model with a model folder or a Hugging Face repo id (see README, "
               "\"Models\"); repo ids need a network connection the first time.";
      }
      return "Check the path.";
    case ErrorKind::kInvalidInput:
      if (stage == "load model") {
        return "--model needs a LLaVA-OneVision folder (config.json, *.safetensors, tokenizer "
               "files) or a Hugging Face repo id.";
      }
      if (stage == "probe" || stage == "decode") {
        return "The video looks damaged or is not a video; try playing it, or re-encode it "
               "with ffmpeg.";
      }
      if (stage == "encode") {
        // The tower refuses its own output (models/vision/video_encoder.h), never the video.
        return damaged_model_hint(stage);
      }
      return {};
    case ErrorKind::kUnsupported:
      if (stage == "probe" || stage == "decode") {
        return "This FFmpeg cannot decode it: re-encode the video (for example: ffmpeg -i IN "
               "-c:v libx264 OUT.mp4) and try again.";
      }
      return "See README, \"Models\", for the architectures and formats clipmind supports.";
    case ErrorKind::kIo:
      return "Check free disk space and permissions.";
    case ErrorKind::kInvalidArgument:
      return "Run with --help for the options.";
    default:
      return {};
  }
}

// LibTorch's errors (c10::Error) carry a C++ stack trace after their first line; a person needs
// only the first line.
std::string first_line(const char* what) {
  std::string text = what ? what : "";
  const size_t end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r'))
    text.pop_back();
  return text;
}

// LibTorch 1.13 reports a failed allocation as a plain c10::Error ("DefaultCPUAllocator: can't
// allocate memory: you tried to allocate N bytes. Error code 12 ...", or "not enough memory"),
// CUDA as "CUDA out of memory"; all are out of memory for the user, like std::bad_alloc.
std::optional<std::string> out_of_memory(const std::string& line) {
  for (const char* marker :
       {"can't allocate memory", "not enough memory", "out of memory", "Cannot allocate memory"}) {
    size_t at = line.find(marker);
    if (at == std::string::npos) continue;
    at += std::strlen(marker);
    while (at < line.size() && (line[at] == ':' || line[at] == '.' || line[at] == ' '))
      ++at;
    return at < line.size() ? "out of memory: " + line.substr(at) : std::string("out of memory");
  }
  return std::nullopt;
}

std::string memory_hint(const std::string& stage) {
  if (stage == "encode") {
    return "Lower encode.input_size or encode.batch_frames, or the number of frames, or close "
           "other programs.";
  }
  return "Lower the token budget or the number of frames, or close other programs.";
}

}  // namespace

StageError::StageError(ErrorKind kind, std::string stage, std::string file,
                       const std::string& message, std::string hint)
    : Error(kind, compose(stage, file, message)),
      stage_(std::move(stage)),
      file_(std::move(file)),
      hint_(std::move(hint)),
      detail_(message) {}

void rethrow_in_stage(const std::string& stage, const std::string& file) {
  try {
    throw;
  } catch (const Cancelled&) {
    throw;
  } catch (const StageError&) {
    throw;
  } catch (const models::NonFiniteOutput& e) {
    throw StageError(e.kind(), stage, file, e.what(), damaged_model_hint(stage));
  } catch (const Error& e) {
    throw StageError(e.kind(), stage, file, e.what());
  } catch (const std::bad_alloc&) {
    throw StageError(ErrorKind::kIo, stage, file, "out of memory", memory_hint(stage));
  } catch (const std::system_error& e) {
    throw StageError(ErrorKind::kIo, stage, file, e.what());
  } catch (const std::exception& e) {
    const std::string line = first_line(e.what());
    if (const auto oom = out_of_memory(line)) {
      throw StageError(ErrorKind::kIo, stage, file, *oom, memory_hint(stage));
    }
    throw StageError(ErrorKind::kInternal, stage, file, line);
  } catch (...) {
    throw StageError(ErrorKind::kInternal, stage, file, "unknown error");
  }
}

UserError describe_error(const std::exception_ptr& error) {
  UserError out;
  try {
    std::rethrow_exception(error);
  } catch (const StageError& e) {
    out.kind = e.kind();
    out.message = e.what();
    out.stage = e.stage();
    out.hint = e.hint().empty() ? default_hint(e.kind(), e.stage()) : e.hint();
  } catch (const models::NonFiniteOutput& e) {
    out.kind = e.kind();
    out.message = e.what();
    out.hint = damaged_model_hint({});
  } catch (const Error& e) {
    out.kind = e.kind();
    out.message = e.what();
    out.hint = default_hint(e.kind(), {});
  } catch (const std::bad_alloc&) {
    out.kind = ErrorKind::kIo;
    out.message = "out of memory";
    out.hint = memory_hint({});
  } catch (const std::exception& e) {
    const std::string line = first_line(e.what());
    if (const auto oom = out_of_memory(line)) {
      out.kind = ErrorKind::kIo;
      out.message = *oom;
      out.hint = memory_hint({});
    } else {
      out.kind = ErrorKind::kInternal;
      out.message = "internal error: " + line;
    }
  } catch (...) {
    out.kind = ErrorKind::kInternal;
    out.message = "internal error";
  }
  if (out.kind == ErrorKind::kCancelled) out.hint.clear();
  out.exit_code = exit_code_for(out.kind);
  return out;
}

}  // namespace clipmind::pipeline
