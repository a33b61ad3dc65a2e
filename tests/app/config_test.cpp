// Config::parse: feeds' drop directories (extract feeds only), validated against the compiled-in
// schema with the problem's path.
#include "engine/core/config.h"

#include <gtest/gtest.h>

namespace cc {
namespace {

TEST(Config, AnExtractFeedMayHaveADropDirectory) {
  auto c = Config::parse(R"({"feeds": [{"name": "sc", "type": "extract", "owner_ods": "DEVSC",
      "mapping": "social-care-episodes", "drop_directory": "/srv/drop/sc", "drop_poll_seconds": 5}]})",
                         "test.json");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->feeds[0].drop_directory, "/srv/drop/sc");
  EXPECT_EQ(c->feeds[0].drop_poll_seconds, 5);
  auto plain = Config::parse(R"({"feeds": [{"name": "sc", "type": "extract", "owner_ods": "DEVSC",
      "mapping": "social-care-episodes"}]})", "test.json");
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->feeds[0].drop_directory.empty());
  EXPECT_EQ(plain->feeds[0].drop_poll_seconds, 2);
}

TEST(Config, OnlyAnExtractFeedMayHaveADropDirectory) {
  auto c = Config::parse(R"({"feeds": [{"name": "pas", "sending_facilities": ["RBT"], "drop_directory": "/srv/x"}]})",
                         "test.json");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("[feeds][0]"), std::string::npos) << c.error().message;
  auto zero = Config::parse(R"({"feeds": [{"name": "sc", "type": "extract", "owner_ods": "DEVSC",
      "mapping": "m", "drop_directory": "/d", "drop_poll_seconds": 0}]})", "test.json");
  EXPECT_FALSE(zero);
}

}  // namespace
}  // namespace cc
