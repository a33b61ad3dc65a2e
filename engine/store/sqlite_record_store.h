// SQLite implementation of RecordStore: one writer (the mapper), a pool of read-only
// connections for the API threads, WAL so readers never wait for the writer.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/store/checkpointer.h"
#include "engine/store/record_store.h"
#include "engine/store/sqlite.h"

namespace cc::store {

class SqliteRecordStore : public RecordStore {
 public:
  // Opens (creating) DIR/record.db. A read-only store (for tools beside a running engine) opens
  // no writer and refuses apply().
  static Result<std::unique_ptr<SqliteRecordStore>> open(const std::string& data_dir, bool read_only = false);

  Status apply(std::vector<MappedBatchItem>& batch) override;
  Status apply_remap(std::vector<MappedBatchItem>& batch) override;
  std::optional<PersonStamp> person_stamp(const std::string& person) override;
  bool unchanged(const PersonStamp& stamp) const override;
  // The stripe whose counts a patient id's writes move (two ids may share one).
  static uint32_t stripe_of(const std::string& patient_id);
  // For tests: called inside the mapper's write transaction just before it commits (what a reader
  // sees while a write is under way).
  void set_before_commit(std::function<void()> hook) { before_commit_ = std::move(hook); }
  std::vector<UnmappedCodeRow> unmapped_codes(int64_t limit) override;
  std::vector<UnmappedMessages> unmapped_messages(int64_t limit) override;
  int64_t mapping_cursor() override;
  std::optional<StoredResource> read(const std::string& type, const std::string& id) override;
  std::vector<StoredResource> read_many(const std::string& type, const std::vector<std::string>& ids) override;
  std::optional<StoredResource> read_version(const std::string& type, const std::string& id,
                                             int64_t version) override;
  Page history(const std::string& type, const std::string& id, int64_t offset, int64_t count) override;
  Page search_identifier(const std::string& type, const std::optional<std::string>& system, const std::string& value,
                         int64_t offset, int64_t count) override;
  Page search_patient(const std::string& type, const std::string& patient_id, int64_t offset,
                      int64_t count) override;
  std::vector<WorklistEntry> worklist(bool open_only, int64_t limit) override;
  std::string person_of(const std::string& patient_id) override;
  std::vector<IdentityTask> identity_worklist(int64_t limit) override;
  Result<IdentityActionResult> resolve_identity(const std::string& action, const std::string& registration,
                                                const std::string& patient, const std::string& actor,
                                                const std::string& reason) override;

 private:
  explicit SqliteRecordStore(std::string path) : path_(std::move(path)) {}

  // A read-only connection borrowed from the pool for one call.
  class Lease {
   public:
    Lease(SqliteRecordStore& s, std::unique_ptr<Database> db) : s_(s), db_(std::move(db)) {}
    ~Lease();
    Database& operator*() { return *db_; }
    Database* operator->() { return db_.get(); }

   private:
    SqliteRecordStore& s_;
    std::unique_ptr<Database> db_;
  };
  Lease lease();
  void write_resource(ResourceWrite& w, const Provenance& p, int64_t now_ms);
  Status write_batch(std::vector<MappedBatchItem>& batch, bool move_cursor);
  // Ends what a snapshot file no longer has (see SnapshotEnd); returns how many resources ended.
  int64_t end_absent(const SnapshotEnd& snapshot, const Provenance& p, int64_t now_ms);
  // Copies identifiers of w.keep_identifier_systems that the new version lacks from the current one.
  // True when it added any.
  bool keep_identifiers(ResourceWrite& w, int64_t current_row);

  // The patient index (sqlite_patient_index.cpp), on the writer inside write_batch's transaction.
  // A source Patient in the batch: joined, held or left local as engine/identity decides.
  void apply_claim(const identity::Claim& claim, MappedBatchItem& item, int64_t now_ms);
  // The NHS number that replaced `nhs_number` (following a chain of replacements), or itself.
  std::string current_nhs_number(const std::string& nhs_number);
  // The source says `old_number` was replaced by the claim's: the old number's patient joins the new.
  void supersede(const std::string& old_number, const identity::Claim& claim, MappedBatchItem& item, int64_t now_ms);
  // Every registration read under `from_person` is read under `to_person` (with `state` if given),
  // each move in the history.
  void move_patient(const std::string& from_person, const std::string& to_person,
                    std::optional<identity::LinkState> state, const std::string& action, const std::string& reason,
                    int64_t event_id, const MappedBatchItem& item, int64_t now_ms);
  // A hospital merge: the retired registration's patient joins the surviving one's.
  void apply_merge(int64_t event_id, const IdentityEventRecord& e, MappedBatchItem& item, int64_t now_ms);
  std::optional<identity::Link> load_link(Database& db, const std::string& registration);
  void save_link(const std::string& registration, const identity::Link& link, const std::string& feed,
                 bool person_changed, int64_t now_ms);
  void record_history(const std::string& registration, const identity::Link& from, const identity::Link& to,
                      const std::string& action, const std::string& actor, const std::string& reason,
                      int64_t event_id, int64_t inbox_id, int64_t now_ms);
  // The demographics of the earliest joined registration of `person` other than `except`.
  std::optional<identity::Demographics> reference_demographics(const std::string& person, const std::string& except);
  // The NHS number of a regional patient, "" for a registration standing alone.
  std::string regional_nhs_number(Database& db, const std::string& person);
  // The regional patient as a read: its registrations' Patients joined (identity::regional_patient_json).
  std::optional<StoredResource> read_regional(Database& db, const std::string& person_id);
  std::string person_of(Database& db, const std::string& patient_id);

  std::string path_;
  std::unique_ptr<Database> writer_;
  std::unique_ptr<Checkpointer> checkpointer_;  // after writer_: stops before the connection closes
  // Writes touching a patient id (a registration or a person), counted by stripe of the id's hash:
  // begun inside the transaction, before the commit that makes the write visible; finished after
  // the commit (or the rollback). A stripe whose counts differ has a write under way.
  static constexpr size_t kStripes = size_t{1} << 14;
  struct Stripe {
    std::atomic<uint64_t> begun{0};
    std::atomic<uint64_t> finished{0};
  };
  std::unique_ptr<Stripe[]> stripes_ = std::make_unique<Stripe[]>(kStripes);
  // The writer (under the record builder's write lock): marks the stripe of a patient id the
  // transaction writes for, once a transaction...
  void touch(const std::string& patient_id);
  std::vector<uint32_t> touched_;
  std::vector<bool> touched_mark_ = std::vector<bool>(kStripes);
  // ...and, made before the transaction and so ended after it, finishes them.
  struct TouchedScope {
    explicit TouchedScope(SqliteRecordStore& s) : s_(s) {}
    ~TouchedScope();
    SqliteRecordStore& s_;
  };
  std::function<void()> before_commit_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Database>> pool_;
};

}  // namespace cc::store
