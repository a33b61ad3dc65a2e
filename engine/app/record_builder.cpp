// RecordBuilder: the step after the ACK. Reads committed inbox messages in order, maps them to
// FHIR and writes the resources with the mapping cursor in one transaction (replayed exactly once).
#include "engine/app/record_builder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <limits>

#include "adapters/hl7v2/message.h"
#include "engine/identity/nhs_number.h"
#include "engine/app/consent.h"
#include "engine/app/extract.h"
#include "engine/app/gp_feed.h"
#include "engine/core/thread_priority.h"
#include "engine/mapping/mapping_set.h"
#include "engine/store/version_text.h"

namespace cc::app {

store::ResourceWrite resource_write(mapping::MappedResource&& r) {
  store::ResourceWrite w;
  w.type = std::move(r.type);
  w.id = std::move(r.id);
  w.resource = std::move(r.resource);
  w.event_time_ms = r.event_time_ms;
  w.patient_id = std::move(r.patient_id);
  w.identifiers = std::move(r.identifiers);
  w.only_if_absent = r.only_if_absent;
  return w;
}

namespace {
constexpr size_t kBatch = 512;
// Letters with base64 documents are large: a batch also stops at this many raw bytes.
constexpr size_t kBatchBytes = 64u << 20;

// One message must not stop the record: a message whose mapping stopped with an error stays in the
// inbox and goes on the work-list.
store::MappedBatchItem failed_item(const store::Provenance& p, const std::exception& e) {
  store::MappedBatchItem item;
  item.inbox_id = p.inbox_id;
  item.provenance = p;
  item.outcome = "failed";
  item.detail = std::string("the mapping stopped with an error: ") + e.what();
  return item;
}
}  // namespace

RecordBuilder::RecordBuilder(const Config& config, const mapping::MappingRegistry& mappings, store::Inbox& inbox,
                             store::RecordStore& record, Metrics& metrics)
    : config_(config),
      mappings_(mappings),
      inbox_(inbox),
      record_(record),
      mapped_(metrics.counter("carerecord_messages_mapped_total", "inbox messages mapped into the record")),
      failed_(metrics.counter("carerecord_messages_mapping_failed_total", "inbox messages that could not be mapped")),
      unmapped_(metrics.counter("carerecord_messages_unmapped_total", "inbox messages of a type with no mapping")),
      handed_over_used_(metrics.counter("carerecord_gp_pushes_written_as_accepted_total",
                                        "GP pushes written as validated when accepted, not mapped again from the inbox")) {
  cursor_ = record_.mapping_cursor();
}

RecordBuilder::~RecordBuilder() { stop(); }

std::vector<store::MappedBatchItem> RecordBuilder::prepare(int64_t after_id, size_t limit) {
  if (!pending_extract_) return map_rows(inbox_.read_after(after_id, limit, kBatchBytes), true);
  // The next chunk of the extract file in hand, alone in its batch.
  std::vector<store::MappedBatchItem> batch(1);
  auto& item = batch.front();
  try {
    pending_extract_->next(item, extract_chunk_rows_after(pending_extract_->rows_done()));
  } catch (const std::exception& e) {
    const store::Provenance& p = pending_extract_->provenance();
    item = failed_item(p, e);
    item.worklist_add.push_back(
        {0, "mapping-failed", "", p.inbox_id, p.feed, "Extract file " + p.control_id + ": " + item.detail, 0, 0});
  }
  if (!item.partial) pending_extract_.reset();
  store::prepare_texts(item);
  return batch;
}

std::vector<store::MappedBatchItem> RecordBuilder::map_rows(std::vector<store::InboxRow> rows, bool live) {
  std::vector<store::MappedBatchItem> batch;
  batch.reserve(rows.size());
  // One set of mappings for the whole batch, even if a reload lands meanwhile.
  const auto mappings = mappings_.current();
  for (auto& row : rows) {
    store::MappedBatchItem item;
    item.inbox_id = row.id;
    item.provenance = store::Provenance{row.feed, row.sending_facility, row.control_id, row.received_ms, row.id};
    if (row.key_reused) {
      item.worklist_add.push_back({0, "control-id-reused", "", row.id, row.feed,
                                   "Message control id " + row.control_id + " from " + row.sending_facility +
                                       " was seen before with different content; both were kept and processed. "
                                       "Check for a PAS counter reset or a corrected resend.",
                                   0, 0});
    }
    mapping::FeedContext ctx{row.feed, {}};
    for (auto& f : config_.feeds)
      if (f.name == row.feed) ctx.authority_systems = f.authorities;

    // A message that could not be mapped is put before a person, whatever kind it is.
    auto list_if_failed = [&row](store::MappedBatchItem& it) {
      if (it.outcome == "failed")
        it.worklist_add.push_back({0, "mapping-failed", "", row.id, row.feed,
                                   row.message_type + " control id " + row.control_id + ": " + it.detail, 0, 0});
    };
    try {
      if (row.message_type == kConsentMessageType) {
        map_consent(row.raw, row.received_ms, item);
        list_if_failed(item);
        batch.push_back(std::move(item));
        continue;
      }
      if (is_gp_message_type(row.message_type)) {
        const FeedConfig* feed = config_.feed_named(row.feed);
        if (!feed || !feed->is_gp()) {
          item.outcome = "failed";
          item.detail = "The push's feed " + row.feed + " is no longer configured as a GP feed.";
        } else {
          // The builder's own pass takes the push as validated when it was accepted, if handed over.
          auto handed = live && row.ack_code == "AA" ? take_handed_over(row.id) : std::nullopt;
          if (handed) {
            gp_writes(*feed, std::move(*handed), row.received_ms, item);
            handed_over_used_.inc();
          } else {
            map_gp(*feed, row.message_type, row.raw, row.received_ms, row.ack_code == "AA", record_, item);
          }
        }
        list_if_failed(item);
        batch.push_back(std::move(item));
        continue;
      }
      if (is_extract_message_type(row.message_type)) {
        const FeedConfig* feed = config_.feed_named(row.feed);
        if (!feed || !feed->is_extract()) {
          item.outcome = "failed";
          item.detail = "The extract's feed " + row.feed + " is no longer configured as an extract feed.";
        } else {
          auto extract = std::make_unique<ExtractMapping>(*feed, mappings, row.raw, item.provenance);
          extract->next(item, live ? extract_chunk_rows_after(0) : std::numeric_limits<size_t>::max());
          if (item.partial) {
            // The rest of the file comes in the next batches; the messages after it wait for it.
            pending_extract_ = std::move(extract);
            batch.push_back(std::move(item));
            break;
          }
        }
        list_if_failed(item);
        batch.push_back(std::move(item));
        continue;
      }
      auto msg = hl7v2::Message::parse(std::move(row.raw));
      if (!msg) {
        item.outcome = "failed";
        item.detail = msg.error().message;
      } else {
        // map() makes the same checks as the ingest's assessment.
        auto out = mappings->map(*msg, ctx);
        if (!out && out.error().code == "unmapped") {
          item.outcome = "unmapped";
          item.detail = out.error().message;
        } else if (!out) {
          item.outcome = "failed";
          item.detail = out.error().message;
        } else {
          item.outcome = "mapped";
          bool nhs_number_rejected =
              std::any_of(out->worklist_add.begin(), out->worklist_add.end(),
                          [](const mapping::WorklistItem& w) { return w.kind == "invalid-nhs-number"; });
          for (auto& r : out->resources) {
            store::ResourceWrite w = resource_write(std::move(r));
            // No event time in the message at all: order it by when it arrived. A resource written only
            // when absent (a results message's Patient) takes the earliest time, so that the
            // administration system's version, whenever it comes, is the current one.
            if (w.only_if_absent) w.event_time_ms = 0;
            else if (w.event_time_ms == 0) w.event_time_ms = row.received_ms;
            // An NHS number this message carried but that failed the check must not erase the verified
            // one on record; a message that carries none is the PAS's word and is taken as it stands.
            if (w.type == "Patient" && nhs_number_rejected)
              w.keep_identifier_systems.emplace_back(identity::NhsNumber::kSystem);
            item.writes.push_back(std::move(w));
          }
          for (auto& issue : out->issues) {
            if (!item.detail.empty()) item.detail += " ";
            item.detail += issue.message;
          }
          for (auto& w : out->worklist_add)
            item.worklist_add.push_back({0, w.kind, w.patient_id, row.id, row.feed, w.detail, 0, 0});
          item.worklist_resolve = std::move(out->worklist_resolve);
          for (auto& c : out->unmapped_codes)
            item.unmapped_codes.push_back({std::move(c.table), std::move(c.system), std::move(c.code), std::move(c.display)});
          for (auto& e : out->identity_events) {
            // The patient index acts on the merge in the store's transaction (see SqliteRecordStore).
            item.identity_events.push_back({e.kind, e.patient_id, e.retired_system, e.retired_value,
                                            e.retired_patient_id, e.detail});
          }
        }
      }
    } catch (const std::exception& e) {
      item = failed_item(store::Provenance{row.feed, row.sending_facility, row.control_id, row.received_ms, row.id}, e);
    }
    // AE means "held for a person": make sure a person sees it.
    bool reason_listed = std::any_of(item.worklist_add.begin(), item.worklist_add.end(),
                                     [](const store::WorklistEntry& e) { return e.kind == "invalid-nhs-number"; });
    if (row.ack_code == "AE" && item.outcome != "failed" && !reason_listed) {
      item.worklist_add.push_back({0, "message-held", "", row.id, row.feed,
                                   row.message_type + " control id " + row.control_id + " from " +
                                       row.sending_facility + " was answered AE: " + item.detail,
                                   0, 0});
    }
    list_if_failed(item);
    batch.push_back(std::move(item));
  }
  // Each version's text is made here, beside the mapping, rather than by the store's single writer.
  for (auto& item : batch) store::prepare_texts(item);
  return batch;
}

void RecordBuilder::hand_over(int64_t inbox_id, size_t push_bytes, fhir_ingest::IngestResult result) {
  if (inbox_id <= cursor_.load()) return;  // mapped from the stored bytes already
  // The builder needs the resources and the entries' dispositions; the answer was sent.
  result.response = rapidjson::Document();
  result.issues.clear();
  std::lock_guard lock(handed_mu_);
  if (handed_over_bytes_ + push_bytes > kMaxHandedOverBytes) return;
  handed_over_bytes_ += push_bytes;
  handed_over_.emplace(inbox_id, HandedOver{std::move(result), push_bytes});
}

std::optional<fhir_ingest::IngestResult> RecordBuilder::take_handed_over(int64_t inbox_id) {
  std::lock_guard lock(handed_mu_);
  auto it = handed_over_.find(inbox_id);
  if (it == handed_over_.end()) return std::nullopt;
  std::optional<fhir_ingest::IngestResult> out(std::move(it->second.result));
  handed_over_bytes_ -= it->second.bytes;
  handed_over_.erase(it);
  return out;
}

void RecordBuilder::drop_handed_over(int64_t inbox_id) {
  std::lock_guard lock(handed_mu_);
  const auto end = handed_over_.upper_bound(inbox_id);
  for (auto it = handed_over_.begin(); it != end; it = handed_over_.erase(it)) handed_over_bytes_ -= it->second.bytes;
}

bool RecordBuilder::commit(std::vector<store::MappedBatchItem>& batch) {
  std::unique_lock write(write_mu_);
  auto st = record_.apply(batch);
  write.unlock();
  if (!st) {
    spdlog::error("record builder: {} (will retry)", st.error().message);
    return false;
  }
  for (auto& item : batch) {
    if (item.partial) continue;
    if (item.outcome == "mapped") mapped_.inc();
    else if (item.outcome == "failed") failed_.inc();
    else unmapped_.inc();
  }
  cursor_ = store::mapped_through(batch);
  drop_handed_over(cursor_.load());
  return true;
}

int64_t RecordBuilder::drain(const std::function<bool()>& keep_going) {
  // A two-stage pipeline: the next batch is read and mapped on another thread while this one is
  // written, so parsing and mapping overlap the store's writes.
  int64_t total = 0;
  // From the cursor: an extract file left part-written by an earlier drain is mapped again whole.
  pending_extract_.reset();
  auto batch = prepare(cursor_, kBatch);
  while (!batch.empty()) {
    int64_t last = batch.back().inbox_id;
    auto next = std::async(std::launch::async, [this, last] {
      yield_to_ingest();
      return prepare(last, kBatch);
    });
    while (!commit(batch)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!keep_going()) return total;  // `next` is awaited by its destructor; the cursor did not move
    }
    total += std::count_if(batch.begin(), batch.end(), [](const store::MappedBatchItem& i) { return !i.partial; });
    batch = next.get();
    if (!keep_going()) break;
  }
  return total;
}

int64_t RecordBuilder::catch_up() {
  for (;;) {
    try {
      return drain([] { return true; });
    } catch (const std::exception& e) {
      spdlog::error("record builder: could not replay the inbox ({}); retrying in 1 s", e.what());
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
}

void RecordBuilder::start() {
  thread_ = std::thread([this] { run(); });
}

void RecordBuilder::wake() {
  {
    std::lock_guard lk(mu_);
    pending_ = true;
  }
  cv_.notify_one();
}

void RecordBuilder::run() {
  yield_to_ingest();
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, std::chrono::milliseconds(200), [&] { return stopping_ || pending_; });
      if (stopping_) break;
      pending_ = false;
    }
    try {
      drain([this] {
        std::lock_guard lk(mu_);
        return !stopping_;
      });
    } catch (const std::exception& e) {
      spdlog::error("record builder: {}; retrying in 1 s", e.what());
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  // Anything still unmapped stays in the inbox and is mapped at the next start, before listening.
}

Result<RecordBuilder::RemapResult> RecordBuilder::remap(const std::string& feed, int64_t since_ms) {
  RemapResult result;
  const int64_t up_to = cursor_.load();  // later messages are the builder's, mapped with these mappings anyway
  int64_t after = 0;
  for (;;) {
    auto batch = map_rows(inbox_.read_for_remap(after, up_to, feed, since_ms, kBatch, kBatchBytes), false);
    if (batch.empty()) break;
    {
      std::lock_guard write(write_mu_);
      auto st = record_.apply_remap(batch);
      if (!st) return st.error();
    }
    for (auto& item : batch) {
      ++result.messages;
      if (item.outcome == "mapped") ++result.mapped;
      else if (item.outcome == "failed") ++result.failed;
      else ++result.unmapped;
    }
    after = batch.back().inbox_id;
  }
  return result;
}

Result<store::IdentityActionResult> RecordBuilder::resolve_identity(const std::string& action,
                                                                   const std::string& registration,
                                                                   const std::string& patient, const std::string& actor,
                                                                   const std::string& reason) {
  std::lock_guard write(write_mu_);
  return record_.resolve_identity(action, registration, patient, actor, reason);
}

void RecordBuilder::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

}  // namespace cc::app
