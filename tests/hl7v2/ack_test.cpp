// The ACK's ERR layout follows the sender's version (MSH-12): ERR-1 before 2.5, ERR-2/3/4 from 2.5.
#include <gtest/gtest.h>

#include "adapters/hl7v2/ack.h"

namespace cc::hl7v2 {
namespace {

TEST(AckLayout, TheMinorVersionIsReadAsANumberWithoutOverflow) {
  EXPECT_FALSE(uses_v25_err_layout("2.3"));
  EXPECT_FALSE(uses_v25_err_layout("2.4"));
  EXPECT_FALSE(uses_v25_err_layout("2.3.1"));
  EXPECT_TRUE(uses_v25_err_layout("2.5"));
  EXPECT_TRUE(uses_v25_err_layout("2.5.1"));
  EXPECT_TRUE(uses_v25_err_layout("2.10"));
  // Digits past an int: a version after 2.5, not -1 (std::atoi's undefined overflow gave the old
  // layout).
  EXPECT_TRUE(uses_v25_err_layout("2.99999999999"));
  EXPECT_TRUE(uses_v25_err_layout(""));  // unknown: the newer layout
  EXPECT_FALSE(uses_v25_err_layout("2.x"));
}

}  // namespace
}  // namespace cc::hl7v2
