#include "pg_test_server.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace clipmind::index::test {

namespace fs = std::filesystem;

namespace {

int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (s >= 0) close(s);
    throw std::runtime_error("cannot find a free port");
  }
  close(s);
  return ntohs(addr.sin_port);
}

std::string find_bin() {
  std::string best;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql")) {
    if (fs::exists(e.path() / "bin/initdb") && e.path().string() > best) best = e.path().string();
  }
  if (best.empty())
    throw std::runtime_error("no /usr/lib/postgresql/*/bin/initdb: run scripts/setup.sh");
  return best + "/bin";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

PgTestServer PgTestServer::start(bool durable) {
  PgTestServer s;
  s.bin_ = find_bin();
  char tmpl[] = "/tmp/clipmind-pg-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  s.root_ = tmpl;
  std::string chown;
  if (geteuid() == 0) {
    s.run_as_ = getpwnam("postgres") ? "postgres" : "nobody";
    const passwd* pw = getpwnam(s.run_as_.c_str());
    if (!pw || ::chown(s.root_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      throw std::runtime_error("cannot hand " + s.root_ + " to user " + s.run_as_);
    }
  }
  const std::string as = s.run_as_.empty() ? "" : "runuser -u " + s.run_as_ + " -- ";
  const std::string data = s.root_ + "/data";
  const std::string init = as + s.bin_ + "/initdb -D " + data +
                           " -U clipmind --auth=trust --encoding=UTF8 --locale=C --no-sync > " +
                           s.root_ + "/initdb.log 2>&1";
  if (std::system(init.c_str()) != 0) {
    throw std::runtime_error("initdb failed: " + slurp(s.root_ + "/initdb.log"));
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    s.port_ = free_port();
    {
      std::ofstream conf(data + "/postgresql.auto.conf", std::ios::trunc);
      conf << "listen_addresses = '127.0.0.1'\nport = " << s.port_
           << "\nunix_socket_directories = '" << s.root_ << "'\nmax_connections = 60\n"
           << "shared_buffers = 32MB\n";
      if (!durable) conf << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
    }
    const std::string start = as + s.bin_ + "/pg_ctl -D " + data + " -l " + s.root_ +
                              "/server.log -w -t 60 start > /dev/null 2>&1";
    if (std::system(start.c_str()) == 0) return s;
  }
  const std::string log = slurp(s.root_ + "/server.log");
  s.stop();
  throw std::runtime_error("postgres did not start: " + log);
}

PgTestServer PgTestServer::load_state(const std::string& state_dir) {
  std::ifstream in(fs::path(state_dir) / "server");
  PgTestServer s;
  if (!(in >> s.root_ >> s.bin_ >> s.port_))
    throw std::runtime_error("no server state in " + state_dir);
  std::string as;
  if (in >> as) s.run_as_ = as;
  return s;
}

void PgTestServer::save_state(const std::string& state_dir) const {
  fs::create_directories(state_dir);
  std::ofstream out(fs::path(state_dir) / "server", std::ios::trunc);
  out << root_ << "\n" << bin_ << "\n" << port_ << "\n" << run_as_ << "\n";
}

void PgTestServer::stop() {
  if (root_.empty()) return;
  const std::string as = run_as_.empty() ? "" : "runuser -u " + run_as_ + " -- ";
  const std::string cmd =
      as + bin_ + "/pg_ctl -D " + root_ + "/data -m immediate -w stop > /dev/null 2>&1";
  [[maybe_unused]] const int rc = std::system(cmd.c_str());
  std::error_code ec;
  fs::remove_all(root_, ec);
  root_.clear();
}

std::string PgTestServer::uri(const std::string& db) const {
  return "postgresql://clipmind@127.0.0.1:" + std::to_string(port_) + "/" + db +
         "?connect_timeout=10";
}

std::string PgTestServer::create_database(const std::string& db) const {
  exec_sql(uri("postgres"), "DROP DATABASE IF EXISTS " + db);
  exec_sql(uri("postgres"), "CREATE DATABASE " + db);
  return uri(db);
}

void PgTestServer::drop_database(const std::string& db) const {
  exec_sql(uri("postgres"), "DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
}

void exec_sql(const std::string& uri, const std::string& sql) {
  PGconn* c = PQconnectdb(uri.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string m = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("cannot connect to test server: " + m);
  }
  PGresult* r = PQexec(c, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string m = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error(sql + ": " + m);
}

}  // namespace clipmind::index::test
