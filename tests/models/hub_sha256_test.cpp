// Streaming SHA-256 against the FIPS 180-2 test vectors.
#include <string>

#include "tests/models/support/hub_test_util.h"
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "models/hub/sha256.h"

namespace clipmind::models::hub {
namespace {

TEST(HubSha256, MatchesFipsVectors) {
  Sha256 hash;
  EXPECT_EQ(hash.hex_digest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  hash.update("abc", 3);
  EXPECT_EQ(hash.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  hash.update(two_blocks.data(), 10);  // fed in pieces: streaming must not matter
  hash.update(two_blocks.data() + 10, two_blocks.size() - 10);
  EXPECT_EQ(hash.hex_digest(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(HubSha256, HashesFilePrefixes) {
  const auto file = clipmind::test::fresh_dir("sha256") / "million_a";
  clipmind::test::write_file(file, std::string(1'000'000, 'a'));
  Sha256 hash;
  sha256_update_from_file(hash, file);
  EXPECT_EQ(hash.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  sha256_update_from_file(hash, file, 3);
  hash.update("", 0);
  EXPECT_EQ(hash.hex_digest(), "9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0");
  EXPECT_THROW(sha256_update_from_file(hash, file, 2'000'000), Error);
}

}  // namespace
}  // namespace clipmind::models::hub
