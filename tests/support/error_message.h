// The message of the clipmind::Error a piece of test code throws, for tests that check what an
// error says. Header-only; any test target may include it.
#pragma once

#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "clipmind/error.h"

namespace clipmind::test {

// Runs `body`; the message of the clipmind::Error it throws, or "<no error>" when it throws none.
inline std::string error_message(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

// Runs `body`, expecting a clipmind::Error of `kind` (a test failure otherwise); its message.
template <typename Body>
std::string error_of(Body&& body, ErrorKind kind) {
  try {
    body();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no clipmind::Error thrown";
  return {};
}

}  // namespace clipmind::test
