// A work queue of video paths in PostgreSQL, for many indexing workers on many machines.
//
// Protocol (docs/index.md): enqueue() inserts paths as `queued`. claim() takes one path in a
// short transaction with `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent workers never get
// the same row, and marks it `claimed` by this worker with a heartbeat time. A claimed path
// whose heartbeat is older than `stale_after` counts as abandoned (its worker died) and is
// claimed again; after `max_attempts` claims it is marked `failed` instead. A worker calls
// heartbeat() while it works on a long video and finish() when done; both answer false when
// the claim was lost (taken over as stale), and the worker should then drop its result.
// Whatever happens, committing a video to the store is idempotent (it replaces the video), so
// a lost claim never duplicates segments.
//
// Owns one connection; not shared between threads (each worker thread opens its own).
// Throws clipmind::Error naming the URI.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace clipmind::index {

struct JobClaim {
  std::string path;
  int attempt = 0;  // 1 for the first claim
};

struct JobCounts {
  int64_t queued = 0, claimed = 0, done = 0, failed = 0;
};

struct JobQueueOptions {
  std::chrono::milliseconds stale_after{std::chrono::minutes(5)};
  int max_attempts = 3;
};

class JobQueue {
 public:
  // `worker` names this worker in the table (e.g. "host:pid:thread"); see default_worker_id().
  JobQueue(const std::string& uri, std::string worker, JobQueueOptions options = {});
  ~JobQueue();
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // Adds paths as queued. Paths already done or failed are queued again when `requeue_finished`
  // (a new indexing run re-checks them; the store then skips unchanged ones); queued or claimed
  // paths are left alone. Returns how many rows became queued.
  size_t enqueue(std::span<const std::string> paths, bool requeue_finished = true);

  std::optional<JobClaim> claim();
  bool heartbeat(const std::string& path);
  bool finish(const std::string& path, bool ok, const std::string& error = {});

  JobCounts counts();
  const std::string& worker() const { return worker_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string worker_;
  JobQueueOptions options_;
};

// "<hostname>:<pid>" — unique per process on a cluster.
std::string default_worker_id();

}  // namespace clipmind::index
