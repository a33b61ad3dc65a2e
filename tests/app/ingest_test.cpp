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

}  // namespace
}  // namespace cc::app
