// SQLite implementation of RecordStore: one writer (the mapper), a pool of read-only
// connections for the API threads, WAL so readers never wait for the writer.
#pragma once
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
  std::vector<UnmappedCodeRow> unmapped_codes(int64_t limit) override;
  std::vector<UnmappedMessages> unmapped_messages(int64_t limit) override;
  int64_t mapping_cursor() override;
  std::optional<StoredResource> read(const std::string& type, const std::string& id) override;
  std::optional<StoredResource> read_version(const std::string& type, const std::string& id,
                                             int64_t version) override;
  Page history(const std::string& type, const std::string& id, int64_t offset, int64_t count) override;
  Page search_identifier(const std::string& type, const std::string& system, const std::string& value,
                         int64_t offset, int64_t count) override;
  Page search_patient(const std::string& type, const std::string& patient_id, int64_t offset,
                      int64_t count) override;
  std::vector<WorklistEntry> worklist(bool open_only, int64_t limit) override;

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
  void keep_identifiers(ResourceWrite& w, int64_t current_version);

  std::string path_;
  std::unique_ptr<Database> writer_;
  std::unique_ptr<Checkpointer> checkpointer_;  // after writer_: stops before the connection closes
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Database>> pool_;
};

}  // namespace cc::store
