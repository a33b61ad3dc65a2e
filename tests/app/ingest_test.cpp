// Ingest unit tests: the decisions made before an ACK (shutdown, parse failures, AE) against a real
// inbox in a temporary directory, without sockets.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "engine/app/ingest.h"
#include "engine/store/inbox.h"
#include "tests/mapping/test_mappings.h"

namespace cc::app {
namespace {

struct Fixture {
  Fixture() {
    char tmpl[] = "/tmp/carerecord-ingest-XXXXXX";
    dir = mkdtemp(tmpl);
    config = Config::development_default();
    inbox = std::move(store::Inbox::open(dir, 7LL * 24 * 3600 * 1000).value());
    mappings = std::make_unique<mapping::MappingRegistry>(
        CC_DEFAULT_MAPPINGS_DIR, std::shared_ptr<const mapping::MappingSet>(&cc::testing::project_mappings(),
                                                                            [](const mapping::MappingSet*) {}));
    ingest = std::make_unique<Ingest>(config, *mappings, *inbox, metrics, nullptr);
  }
  ~Fixture() {
    ingest.reset();
    inbox.reset();
    std::filesystem::remove_all(dir);
  }
  std::string send(const std::string& bytes) {
    std::promise<std::string> p;
    auto f = p.get_future();
    hl7v2::InboundFrame frame;
    frame.bytes = bytes;
    frame.peer = "127.0.0.1:1";
    frame.size = bytes.size();
    ingest->on_frame(std::move(frame), [&p](std::string ack) { p.set_value(std::move(ack)); });
    return f.get();
  }
  std::string dir;
  Config config;
  Metrics metrics;
  std::unique_ptr<store::Inbox> inbox;
  std::unique_ptr<mapping::MappingRegistry> mappings;
  std::unique_ptr<Ingest> ingest;
};

const std::string kAdt =
    "MSH|^~\\&|PAS|RBT|CARERECORD|CHESHIRE|20260315101500||ADT^A28^ADT_A05|CTL1|P|2.5\r"
    "EVN|A28|20260315101500\rPID|1||RBT1^^^RBT^MR~9990000018^^^NHS^NH||DOE^JOHN||19600101|M\r";

TEST(Ingest, MessagesArrivingDuringShutdownAreARAndNotStored) {
  Fixture fx;
  fx.ingest->begin_shutdown();
  std::string ack = fx.send(kAdt);
  EXPECT_NE(ack.find("MSA|AR|CTL1"), std::string::npos) << ack;
  EXPECT_NE(ack.find("shutting down"), std::string::npos) << ack;
  EXPECT_EQ(fx.inbox->count(), 0);
  EXPECT_EQ(fx.ingest->in_flight(), 0);
}

TEST(Ingest, AcceptedMessageIsInTheInboxBeforeItsAck) {
  Fixture fx;
  std::string ack = fx.send(kAdt);
  EXPECT_NE(ack.find("MSA|AA|CTL1"), std::string::npos) << ack;
  // The completion fired only after the commit, so the row is readable now.
  auto rows = fx.inbox->read_after(0, 10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].control_id, "CTL1");
  EXPECT_EQ(rows[0].ack_code, "AA");
  EXPECT_EQ(rows[0].raw, kAdt);
}

TEST(Ingest, BadNhsNumberIsStoredWithAE) {
  Fixture fx;
  std::string bad = kAdt;
  bad.replace(bad.find("9990000018"), 10, "9990000019");
  std::string ack = fx.send(bad);
  EXPECT_NE(ack.find("MSA|AE|CTL1"), std::string::npos) << ack;
  auto rows = fx.inbox->read_after(0, 10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].ack_code, "AE");
}

TEST(Ingest, NotHl7IsARAndNotStored) {
  Fixture fx;
  std::string ack = fx.send("this is not a message");
  EXPECT_NE(ack.find("MSA|AR|"), std::string::npos) << ack;
  EXPECT_EQ(fx.inbox->count(), 0);
}

// A feed whose unmapped_ack is AE: a message no mapping takes is stored, answered AE, and the ERR at
// MSH-9 says which HL7 table 0357 case it is: 201 for an event of a type the mappings take (ADT^A17,
// swap patients), 200 for a type they do not take at all (DFT^P03).
TEST(Ingest, UnmappedMessageOnAnAEFeedSays201ForAnEventAnd200ForAType) {
  Fixture fx;
  ASSERT_FALSE(fx.config.feeds.empty());
  for (auto& feed : fx.config.feeds) feed.unmapped_ack = "AE";
  fx.ingest = std::make_unique<Ingest>(fx.config, *fx.mappings, *fx.inbox, fx.metrics, nullptr);
  std::string swap = kAdt;
  swap.replace(swap.find("ADT^A28^ADT_A05|CTL1"), 20, "ADT^A17^ADT_A17|CTL2");
  swap.replace(swap.find("EVN|A28"), 7, "EVN|A17");
  std::string ack = fx.send(swap);
  EXPECT_NE(ack.find("MSA|AE|CTL2"), std::string::npos) << ack;
  EXPECT_NE(ack.find("ERR||MSH^1^9|201^Unsupported event code^HL70357|E"), std::string::npos) << ack;
  EXPECT_NE(ack.find("Event ADT\\S\\A17 has no mapping"), std::string::npos) << ack;
  const std::string dft = "MSH|^~\\&|LAB|RBT|CARERECORD|CHESHIRE|20260315101500||DFT^P03^DFT_P03|CTL3|P|2.5\r"
                          "PID|1||RBT1^^^RBT^MR||DOE^JOHN||19600101|M\r";
  ack = fx.send(dft);
  EXPECT_NE(ack.find("MSA|AE|CTL3"), std::string::npos) << ack;
  EXPECT_NE(ack.find("ERR||MSH^1^9|200^Unsupported message type^HL70357|E"), std::string::npos) << ack;
  EXPECT_NE(ack.find("Message type DFT\\S\\P03 has no mapping"), std::string::npos) << ack;
  auto rows = fx.inbox->read_after(0, 10);
  ASSERT_EQ(rows.size(), 2u);  // both kept
  EXPECT_EQ(rows[0].ack_code, "AE");
  EXPECT_EQ(rows[1].ack_code, "AE");
}

}  // namespace
}  // namespace cc::app
