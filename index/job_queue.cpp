#include "index/job_queue.h"

#include <unistd.h>

#include "clipmind/error.h"
#include "index/pg_connection.h"
#include "index/pg_schema.h"

namespace clipmind::index {

struct JobQueue::Impl {
  explicit Impl(const std::string& uri) : conn(uri) {}
  PgConnection conn;
};

JobQueue::JobQueue(const std::string& uri, std::string worker, JobQueueOptions options)
    : impl_(std::make_unique<Impl>(uri)), worker_(std::move(worker)), options_(options) {
  if (worker_.empty()) worker_ = default_worker_id();
  if (options_.max_attempts < 1) {
    throw Error(ErrorKind::kInvalidArgument, "job queue: max_attempts must be at least 1");
  }
  ensure_pg_schema(impl_->conn, true);
}

JobQueue::~JobQueue() = default;

size_t JobQueue::enqueue(std::span<const std::string> paths, bool requeue_finished) {
  auto& c = impl_->conn;
  PgTransaction tx(c);
  size_t queued = 0;
  for (const auto& path : paths) {
    auto r = c.exec(requeue_finished
                        ? "INSERT INTO clipmind_jobs(path, state) VALUES ($1, 'queued') "
                          "ON CONFLICT (path) DO UPDATE SET state = 'queued', attempts = 0, "
                          "error = '', worker = '' WHERE clipmind_jobs.state IN ('done', 'failed')"
                        : "INSERT INTO clipmind_jobs(path, state) VALUES ($1, 'queued') "
                          "ON CONFLICT (path) DO NOTHING",
                    {path});
    queued += static_cast<size_t>(r.affected());
  }
  tx.commit();
  return queued;
}

std::optional<JobClaim> JobQueue::claim() {
  auto& c = impl_->conn;
  const std::string stale = "now() - make_interval(secs => " +
                            std::to_string(options_.stale_after.count() / 1000.0) + ")";
  PgTransaction tx(c);
  // Abandoned too often: give up on the path rather than crash worker after worker.
  c.exec(
      "UPDATE clipmind_jobs SET state = 'failed', error = 'abandoned by ' || attempts || "
      "' workers (no heartbeat); last: ' || worker WHERE state = 'claimed' AND heartbeat_at < " +
          stale + " AND attempts >= $1",
      {static_cast<int64_t>(options_.max_attempts)});
  auto r = c.exec(
      "UPDATE clipmind_jobs SET state = 'claimed', worker = $1, attempts = attempts + 1, "
      "claimed_at = now(), heartbeat_at = now() WHERE path = ("
      "SELECT path FROM clipmind_jobs WHERE state = 'queued' OR (state = 'claimed' AND "
      "heartbeat_at < " +
          stale +
          ") ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) "
          "RETURNING path, attempts",
      {worker_});
  tx.commit();
  if (r.rows() == 0) return std::nullopt;
  return JobClaim{r.text(0, 0), static_cast<int>(r.i64(0, 1))};
}

bool JobQueue::heartbeat(const std::string& path) {
  auto r = impl_->conn.exec(
      "UPDATE clipmind_jobs SET heartbeat_at = now() WHERE path = $1 AND worker = $2 AND "
      "state = 'claimed'",
      {path, worker_});
  return r.affected() == 1;
}

bool JobQueue::finish(const std::string& path, bool ok, const std::string& error) {
  auto r = impl_->conn.exec(
      "UPDATE clipmind_jobs SET state = $3, error = $4, heartbeat_at = now() WHERE path = $1 "
      "AND worker = $2 AND state = 'claimed'",
      {path, worker_, ok ? "done" : "failed", error});
  return r.affected() == 1;
}

JobCounts JobQueue::counts() {
  auto r = impl_->conn.exec("SELECT state, count(*) FROM clipmind_jobs GROUP BY state");
  JobCounts out;
  for (int i = 0; i < r.rows(); ++i) {
    const auto state = r.text(i, 0);
    const int64_t n = r.i64(i, 1);
    if (state == "queued") out.queued = n;
    if (state == "claimed") out.claimed = n;
    if (state == "done") out.done = n;
    if (state == "failed") out.failed = n;
  }
  return out;
}

std::string default_worker_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '?';
  return std::string(host) + ":" + std::to_string(::getpid());
}

}  // namespace clipmind::index
