// RecordBuilder: the step after the ACK. Reads committed inbox messages in order, maps them to
// FHIR and writes the resources with the mapping cursor in one transaction (replayed exactly once).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>
#include <mutex>
#include <thread>

#include "adapters/fhir/gp_ingest.h"
#include "engine/app/extract.h"
#include "engine/core/config.h"
#include "engine/core/metrics.h"
#include "engine/mapping/mapping_set.h"
#include "engine/store/inbox.h"
#include "engine/store/record_store.h"

namespace cc::app {

// What the store writes for one mapped resource (its type, id, body, event time, patient,
// identifiers, and whether only when absent); the caller adds the rest.
store::ResourceWrite resource_write(mapping::MappedResource&& r);

class RecordBuilder {
 public:
  RecordBuilder(const Config& config, const mapping::MappingRegistry& mappings, store::Inbox& inbox,
                store::RecordStore& record, Metrics& metrics);
  ~RecordBuilder();

  // Maps everything committed so far (crash replay); returns how many messages it mapped.
  int64_t catch_up();
  // Runs in the background until stop(); wake() after each inbox commit.
  void start();
  void wake();
  // Finishes the batch in hand and stops.
  void stop();

  int64_t cursor() const { return cursor_.load(); }

  // A GP push answered with every entry accepted, as its validation made it before it was stored
  // (inbox row `inbox_id`, `push_bytes` long): the builder writes these resources instead of
  // validating the stored bytes again. Held only while little is waiting (kMaxHandedOverBytes of
  // pushes); past that, and after a restart or a re-map, the stored push is mapped as always, to the
  // same resources.
  void hand_over(int64_t inbox_id, size_t push_bytes, fhir_ingest::IngestResult result);

  // Runs the inbox messages of `feed` (every feed when empty) received at or after `since_ms`,
  // already mapped, through the mappings in force again. Resources whose content changed get a new
  // version; the others are left as they are. Safe beside the running builder.
  struct RemapResult {
    int64_t messages = 0, mapped = 0, unmapped = 0, failed = 0;
  };
  Result<RemapResult> remap(const std::string& feed, int64_t since_ms);

  // A person's decision on the patient index (RecordStore::resolve_identity), taking its turn with
  // the builder's writes.
  Result<store::IdentityActionResult> resolve_identity(const std::string& action, const std::string& registration,
                                                       const std::string& patient, const std::string& actor,
                                                       const std::string& reason);

 private:
  // Reads and maps up to `limit` inbox messages after `after_id`, or the next chunk of the extract
  // file in hand.
  std::vector<store::MappedBatchItem> prepare(int64_t after_id, size_t limit);
  // Maps inbox rows with the mappings in force. `live`: the builder's own pass (not a re-map): an
  // extract file gives its first chunk of rows, the batch ends there, and prepare() gives the rest
  // (a re-map maps it whole), and a GP push handed over is written as it was validated.
  std::vector<store::MappedBatchItem> map_rows(std::vector<store::InboxRow> rows, bool live);
  // limits.extract_chunk_rows. Large by default, because each commit writes every index page its
  // chunk touched and the record's keys are spread evenly: on 200,000 rows, chunks of 2,000 took 1.8
  // times as long as one commit for the whole file, chunks of 50,000 0.7 times (bench/feeds.sh).
  size_t extract_chunk_rows() const { return static_cast<size_t>(config_.limits.extract_chunk_rows); }
  // The rows of a file's next chunk, `done` rows in. Each chunk is mapped while the one before is
  // written, and mapping a row takes about a third of the time writing it does, so the chunks
  // start small and grow: the first (a tenth), mapped while nothing is written, starts the writing
  // sooner, and each after it (twice the rows so far) is mapped before the one in hand is written.
  size_t extract_chunk_rows_after(size_t done) const {
    return std::min(extract_chunk_rows(), std::max<size_t>({1, extract_chunk_rows() / 10, 2 * done}));
  }
  // The result handed over for this inbox row, if any (and those of rows before it, passed by
  // now, are dropped).
  std::optional<fhir_ingest::IngestResult> take_handed_over(int64_t inbox_id);
  // Writes a prepared batch and moves the cursor; false if the store refused it.
  bool commit(std::vector<store::MappedBatchItem>& batch);
  // Maps and writes until the inbox has nothing after the cursor or keep_going() says stop.
  int64_t drain(const std::function<bool()>& keep_going);
  void run();

  const Config& config_;
  const mapping::MappingRegistry& mappings_;
  store::Inbox& inbox_;
  store::RecordStore& record_;
  std::atomic<int64_t> cursor_{0};
  // The extract file being mapped a chunk at a time (only prepare() and drain() touch it, in turn).
  std::unique_ptr<ExtractMapping> pending_extract_;
  // Drops what was handed over for rows up to `inbox_id` (mapped by now, from the stored bytes if
  // the builder read them before the hand-over came).
  void drop_handed_over(int64_t inbox_id);
  static constexpr size_t kMaxHandedOverBytes = 64u << 20;  // of pushes held for the builder at most
  struct HandedOver {
    fhir_ingest::IngestResult result;
    size_t bytes = 0;
  };
  std::mutex handed_mu_;
  std::map<int64_t, HandedOver> handed_over_;  // inbox id -> the push's validation
  size_t handed_over_bytes_ = 0;
  std::mutex mu_;
  std::mutex write_mu_;  // one writer on the record store: the builder's batches and re-maps take turns
  std::condition_variable cv_;
  bool stopping_ = false;
  bool pending_ = false;
  std::thread thread_;
  Counter& mapped_;
  Counter& failed_;
  Counter& unmapped_;
  Counter& handed_over_used_;
};

}  // namespace cc::app
