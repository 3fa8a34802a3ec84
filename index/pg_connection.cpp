#include "index/pg_connection.h"

#include <bit>
#include <cstring>
#include <sstream>

#include <libpq-fe.h>

#include "clipmind/error.h"
#include "index/store.h"

namespace clipmind::index {

namespace {

constexpr uint32_t kFloat4Oid = 700;

void put_u32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    out += static_cast<char>((v >> s) & 0xff);
}

uint32_t get_u32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

void ignore_notice(void*, const char*) {}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

}  // namespace

PgResult::~PgResult() {
  PQclear(r_);
}
int PgResult::rows() const {
  return PQntuples(r_);
}
bool PgResult::null(int row, int col) const {
  return PQgetisnull(r_, row, col) != 0;
}
std::string PgResult::text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
}
int64_t PgResult::i64(int row, int col) const {
  return std::stoll(text(row, col));
}
double PgResult::f64(int row, int col) const {
  std::istringstream in(text(row, col));
  in.imbue(std::locale::classic());
  double v = 0;
  in >> v;
  return v;
}
std::span<const uint8_t> PgResult::bytes(int row, int col) const {
  return {reinterpret_cast<const uint8_t*>(PQgetvalue(r_, row, col)),
          static_cast<size_t>(PQgetlength(r_, row, col))};
}
int64_t PgResult::affected() const {
  const char* n = PQcmdTuples(r_);
  return n && *n ? std::stoll(n) : 0;
}

PgParam::PgParam(double v) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out.precision(17);
  out << v;
  value = out.str();
}

PgParam PgParam::bytes(std::span<const uint8_t> b) {
  PgParam p;
  p.value = std::string(reinterpret_cast<const char*>(b.data()), b.size());
  p.binary = true;
  return p;
}

PgConnection::PgConnection(const std::string& uri) : where_(redact_uri(uri)) {
  conn_ = PQconnectdb(uri.c_str());
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    const std::string msg = conn_ ? trim(PQerrorMessage(conn_)) : "out of memory";
    PQfinish(conn_);
    conn_ = nullptr;
    throw Error(ErrorKind::kNetwork, where_ + ": cannot connect to PostgreSQL: " + msg);
  }
  // Libraries never print: drop server notices (e.g. "query contains only stop words").
  PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
}

PgConnection::~PgConnection() {
  PQfinish(conn_);
}

bool PgConnection::in_transaction() const {
  return PQtransactionStatus(conn_) != PQTRANS_IDLE;
}

PgResult PgConnection::exec(std::string_view sql, const std::vector<PgParam>& params,
                            bool binary_results) {
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size()), formats(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i].value ? params[i].value->data() : nullptr;
    lengths[i] = params[i].value ? static_cast<int>(params[i].value->size()) : 0;
    formats[i] = params[i].binary ? 1 : 0;
  }
  const std::string q(sql);
  pg_result* raw =
      PQexecParams(conn_, q.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                   lengths.data(), formats.data(), binary_results ? 1 : 0);
  const auto status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    std::string msg = raw ? trim(PQresultErrorMessage(raw)) : trim(PQerrorMessage(conn_));
    const char* state = raw ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
    if (state) msg += std::string(" [SQLSTATE ") + state + "]";
    PQclear(raw);
    const bool lost = PQstatus(conn_) != CONNECTION_OK;
    throw Error(
        lost ? ErrorKind::kNetwork : ErrorKind::kIo,
        where_ + (lost ? ": connection lost: " : ": ") + msg + " (in: " + q.substr(0, 60) + ")");
  }
  return PgResult(raw);
}

void PgConnection::exec_script(std::string_view sql) {
  const std::string q(sql);
  pg_result* raw = PQexec(conn_, q.c_str());
  const auto status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const std::string msg = raw ? trim(PQresultErrorMessage(raw)) : trim(PQerrorMessage(conn_));
    PQclear(raw);
    throw Error(ErrorKind::kIo, where_ + ": cannot update the schema: " + msg);
  }
  PQclear(raw);
}

PgTransaction::PgTransaction(PgConnection& c, std::string_view begin) : c_(c) {
  c_.exec(begin);
}
PgTransaction::~PgTransaction() {
  if (!done_) {
    try {
      c_.exec("ROLLBACK");
    } catch (...) {
    }
  }
}
void PgTransaction::commit() {
  c_.exec("COMMIT");
  done_ = true;
}

std::string encode_float4_array(std::span<const float> v) {
  std::string out;
  out.reserve(20 + v.size() * 8);
  put_u32(out, 1);  // dimensions
  put_u32(out, 0);  // has nulls
  put_u32(out, kFloat4Oid);
  put_u32(out, static_cast<uint32_t>(v.size()));
  put_u32(out, 1);  // lower bound
  for (float f : v) {
    put_u32(out, 4);
    put_u32(out, std::bit_cast<uint32_t>(f));
  }
  return out;
}

std::vector<float> decode_float4_array(std::span<const uint8_t> b, const std::string& where) {
  const auto bad = [&] {
    return Error(ErrorKind::kInvalidInput, where + ": damaged embedding array");
  };
  if (b.size() < 12) throw bad();
  const uint32_t ndim = get_u32(b.data());
  if (ndim == 0) return {};
  if (ndim != 1 || b.size() < 20 || get_u32(b.data() + 8) != kFloat4Oid) throw bad();
  const uint32_t n = get_u32(b.data() + 12);
  if (b.size() != 20 + size_t(n) * 8) throw bad();
  std::vector<float> out(n);
  const uint8_t* p = b.data() + 20;
  for (uint32_t i = 0; i < n; ++i, p += 8) {
    if (get_u32(p) != 4) throw bad();
    out[i] = std::bit_cast<float>(get_u32(p + 4));
  }
  return out;
}

int64_t decode_int8(std::span<const uint8_t> b) {
  if (b.size() != 8) throw Error(ErrorKind::kInternal, "int8 column of unexpected size");
  return static_cast<int64_t>((uint64_t(get_u32(b.data())) << 32) | get_u32(b.data() + 4));
}

}  // namespace clipmind::index
