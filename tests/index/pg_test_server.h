// A throwaway PostgreSQL server for tests: initdb + pg_ctl from Debian's postgresql package,
// in a temp directory, listening on 127.0.0.1 at a free port, trust authentication.
// initdb and postgres refuse to run as root: as root, they run as the `postgres` user (or
// `nobody`) through runuser, with a data directory that user owns.
#pragma once

#include <string>

namespace clipmind::index::test {

// Runs one statement that returns no rows on its own connection; throws std::runtime_error with
// the server's message when connecting or the statement fails.
void exec_sql(const std::string& uri, const std::string& sql);

class PgTestServer {
 public:
  // Starts a server; throws std::runtime_error with the server log on failure. Tests run with
  // fsync off; `durable` keeps PostgreSQL's defaults (fsync, synchronous commit) for benchmarks.
  static PgTestServer start(bool durable = false);
  // Adopts a server described by a state directory written by save_state().
  static PgTestServer load_state(const std::string& state_dir);
  void save_state(const std::string& state_dir) const;

  void stop();

  // URI of database `db` (created by create_database).
  std::string uri(const std::string& db) const;
  // Creates a fresh database and returns its URI.
  std::string create_database(const std::string& db) const;
  void drop_database(const std::string& db) const;

  int port() const { return port_; }
  const std::string& root() const { return root_; }

 private:
  std::string root_;  // temp dir holding data/, the socket and the log
  std::string bin_;
  std::string run_as_;  // empty: run directly
  int port_ = 0;
};

}  // namespace clipmind::index::test
