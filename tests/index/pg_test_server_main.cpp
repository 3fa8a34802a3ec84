// CTest fixture helper: `pg_test_server start STATE_DIR` starts a PostgreSQL server for the
// PostgreSQL tests and records it in STATE_DIR; `pg_test_server stop STATE_DIR` stops it and
// removes its files. A server left by an interrupted run is stopped before a new one starts.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include "pg_test_server.h"

int main(int argc, char** argv) {
  using clipmind::index::test::PgTestServer;
  if (argc != 3) {
    std::fprintf(stderr, "usage: pg_test_server start|stop STATE_DIR\n");
    return 2;
  }
  const std::string cmd = argv[1], state = argv[2];
  try {
    if (std::filesystem::exists(std::filesystem::path(state) / "server")) {
      PgTestServer::load_state(state).stop();
      std::filesystem::remove(std::filesystem::path(state) / "server");
    }
    if (cmd == "start") {
      auto server = PgTestServer::start();
      server.save_state(state);
      std::printf("postgres on 127.0.0.1:%d in %s\n", server.port(), server.root().c_str());
    } else if (cmd != "stop") {
      std::fprintf(stderr, "pg_test_server: unknown command %s\n", cmd.c_str());
      return 2;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pg_test_server: %s\n", e.what());
    return 1;
  }
}
