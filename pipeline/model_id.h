// Content-based identity of a model folder: the id that keys the token caches (the VLM's) and
// that an index records for the embeddings it holds (the relevance model's).
//
// model_folder_id() ("m2-" + 32 hex digits) depends only on bytes the folder's files hold, never
// on the folder's path, symlinks or file times: the same Hugging Face repo and revision in two
// caches, a `cp -r` copy or a symlinked folder get the same id, so PostgreSQL indexes shared by
// machines and moved model folders keep working. Material (SHA-256, version "clipmind-model-id-
// v2"): every small file that changes what the model computes or how text becomes tokens
// (config.json, model.safetensors.index.json and hub::optional_model_files(): tokenizers,
// preprocessor and generation configs, chat templates), whole; and for every *.safetensors file
// of the folder, sorted by name: its size, its whole JSON header (tensor names, dtypes, shapes,
// offsets) and 8 blocks of 64 KiB of its data region at evenly spaced offsets (first and last
// bytes included; the whole region when it is at most 512 KiB). It reads about 0.5 MiB per
// weights file, milliseconds on a 3.5 GB model, where hashing the weights would take seconds on
// every load. It misses a same-size edit confined to unsampled weight bytes; retraining,
// fine-tuning and re-quantising change every tensor, so they are seen. See docs/pipeline.md
// "Model identity" for why Hugging Face blob names (sha256 of the file) are not used.
//
// legacy_model_folder_id() is the v1 id (32 hex digits: absolute path + config.json + weights
// names, sizes and mtimes) that clipmind wrote into indexes before; kept so those indexes are
// recognised and upgraded (pipeline/index_job.cpp).
//
// Throws clipmind::Error (kIo) naming the file when a file of the folder cannot be read.
#pragma once

#include <filesystem>
#include <string>

namespace clipmind::pipeline {

std::string model_folder_id(const std::filesystem::path& dir);
std::string legacy_model_folder_id(const std::filesystem::path& dir);

// The first 12 characters of an id's hash, for messages ("m2-1a2b3c4d5e6f" -> "1a2b3c4d5e6f").
std::string short_model_id(const std::string& id);

}  // namespace clipmind::pipeline
