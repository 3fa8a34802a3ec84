// RAII over libpq for the PostgreSQL store and job queue: a connection (PGconn), results
// (PGresult), transactions, and binary float4[] encoding. Internal to index/.
// Errors: clipmind::Error(kNetwork) naming the URI (password hidden) and what the server said.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace clipmind::index {

class PgResult {
 public:
  explicit PgResult(pg_result* r) : r_(r) {}
  ~PgResult();
  PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgResult& operator=(PgResult&&) = delete;
  PgResult(const PgResult&) = delete;

  int rows() const;
  bool null(int row, int col) const;
  std::string text(int row, int col) const;
  int64_t i64(int row, int col) const;  // text-format integer column
  double f64(int row, int col) const;   // text-format float column
  std::span<const uint8_t> bytes(int row, int col) const;
  int64_t affected() const;  // rows changed by INSERT/UPDATE/DELETE

 private:
  pg_result* r_;
};

// One positional parameter: text, binary bytes, or NULL.
struct PgParam {
  std::optional<std::string> value;
  bool binary = false;

  PgParam() = default;
  PgParam(std::string v) : value(std::move(v)) {}    // NOLINT: implicit on purpose
  PgParam(const char* v) : value(std::string(v)) {}  // NOLINT
  PgParam(int64_t v) : value(std::to_string(v)) {}   // NOLINT
  PgParam(double v);                                 // NOLINT
  static PgParam bytes(std::span<const uint8_t> b);
};

class PgConnection {
 public:
  explicit PgConnection(const std::string& uri);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs `sql` with parameters $1.. ; `binary_results` asks for binary columns (bytea, real[]).
  PgResult exec(std::string_view sql, const std::vector<PgParam>& params = {},
                bool binary_results = false);

  // Runs several ;-separated statements without parameters (migrations).
  void exec_script(std::string_view sql);

  const std::string& where() const { return where_; }  // the redacted URI, for messages
  bool in_transaction() const;

 private:
  pg_conn* conn_ = nullptr;
  std::string where_;
};

class PgTransaction {
 public:
  PgTransaction(PgConnection& c, std::string_view begin = "BEGIN");
  ~PgTransaction();
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  void commit();

 private:
  PgConnection& c_;
  bool done_ = false;
};

// PostgreSQL binary wire format of a one-dimensional real[] (float4[]).
std::string encode_float4_array(std::span<const float> v);
std::vector<float> decode_float4_array(std::span<const uint8_t> bytes, const std::string& where);
// Binary int8 column value.
int64_t decode_int8(std::span<const uint8_t> bytes);

}  // namespace clipmind::index
