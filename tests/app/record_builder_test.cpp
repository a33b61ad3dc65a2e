// The record builder against a real inbox and record store in a temporary directory: a stored
// message it cannot map reaches the data-quality work-list, whatever its kind.
#include <filesystem>
#include <future>

#include <gtest/gtest.h>

#include "engine/app/consent.h"
#include "engine/app/record_builder.h"
#include "engine/store/inbox.h"
#include "engine/store/sqlite_record_store.h"
#include "tests/mapping/test_mappings.h"

namespace cc::app {
namespace {

// A Consent the builder cannot read (stored before posted Consents were read as the builder reads
// them: invalid UTF-8, or nested past 64 levels) was answered 201 and then silently not recorded.
// It is now a mapping-failed item, as a failed HL7 message is.
TEST(RecordBuilder, AStoredConsentItCannotReadIsOnTheWorklist) {
  char tmpl[] = "/tmp/carerecord-builder-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  {
    Config config = Config::development_default();
    Metrics metrics;
    auto inbox = std::move(store::Inbox::open(dir, 7LL * 24 * 3600 * 1000).value());
    auto record = std::move(store::SqliteRecordStore::open(dir).value());
    mapping::MappingRegistry mappings(CC_DEFAULT_MAPPINGS_DIR,
                                      std::shared_ptr<const mapping::MappingSet>(&cc::testing::project_mappings(),
                                                                                 [](const mapping::MappingSet*) {}));
    store::InboxMessage m;
    m.feed = kConsentFeed;
    m.peer = "127.0.0.1:1";
    m.received_ms = 1795400000000;
    m.sending_app = "consent";
    m.sending_facility = "RBT";
    m.control_id = "c1";
    m.message_type = kConsentMessageType;
    m.ack_code = "AA";
    m.raw = std::string(100, '[');  // deeper than 64 levels
    m.ack = m.raw;
    std::promise<bool> stored;
    inbox->submit(std::move(m), [&stored](Result<store::Receipt> r) { stored.set_value(r.ok()); });
    ASSERT_TRUE(stored.get_future().get());

    RecordBuilder builder(config, mappings, *inbox, *record, metrics);
    EXPECT_EQ(builder.catch_up(), 1);
    bool listed = false;
    for (const auto& e : record->worklist(true, 100))
      listed |= e.kind == "mapping-failed" && e.detail.find("Consent") != std::string::npos;
    EXPECT_TRUE(listed) << "the unreadable Consent must be before a person";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cc::app
