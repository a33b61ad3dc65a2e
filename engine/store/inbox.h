// Inbox: every accepted raw message with its metadata and the ACK it got, committed durably
// (group commit) before the ACK is sent; duplicates within the window get their first ACK back.
#pragma once
#include <cstdint>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/result.h"
#include "engine/store/group_commit.h"

namespace cc::store {

struct InboxMessage {
  std::string feed;
  std::string peer;           // remote address:port
  int64_t received_ms = 0;    // epoch ms
  std::string sending_app;    // MSH-3
  std::string sending_facility;  // MSH-4
  std::string control_id;     // MSH-10
  std::string message_type;   // e.g. ADT^A01
  std::string raw;            // the message bytes as received
  std::string ack_code;       // AA or AE (AR'd messages are never stored)
  std::string ack;            // the ACK bytes to send (and to send again for a duplicate)
};

struct Receipt {
  int64_t id = 0;             // inbox row id (ascending in commit order)
  bool duplicate = false;     // same key and content seen within the window: not stored again
  bool key_reused = false;    // same key, different content: stored, processed and flagged
  std::string ack_code;
  std::string ack;            // for a duplicate, the ACK it got the first time
};

struct InboxRow {
  int64_t id = 0;
  std::string feed;
  std::string peer;
  int64_t received_ms = 0;
  std::string sending_app;
  std::string sending_facility;
  std::string control_id;
  std::string message_type;
  std::string ack_code;
  bool key_reused = false;
  std::string raw;
};

class Inbox {
 public:
  // Opens (creating) DIR/inbox.db.
  static Result<std::unique_ptr<Inbox>> open(const std::string& data_dir, int64_t idempotency_window_ms);
  ~Inbox();

  // Commits `msg` (group commit) and calls `done` on the writer thread once durable.
  void submit(InboxMessage msg, std::function<void(Result<Receipt>)> done);
  // Stops accepting, finishes what was submitted.
  void stop();

  // Read side: one read-only connection, serialised by a mutex.
  // Rows after `after_id` in order: at most `limit`, and no more once `max_bytes` of raw messages
  // are in hand (the first row always comes, whatever its size).
  std::vector<InboxRow> read_after(int64_t after_id, size_t limit, size_t max_bytes = SIZE_MAX);
  // Messages after `after_id` up to `up_to_id`, of one feed (every feed when empty) received at or
  // after `since_ms`: what a re-map runs again.
  std::vector<InboxRow> read_for_remap(int64_t after_id, int64_t up_to_id, const std::string& feed, int64_t since_ms,
                                       size_t limit, size_t max_bytes);
  std::optional<InboxRow> read(int64_t id);
  // The control id of the newest message stored for this feed, sender and sending application
  // (empty when none): an HTTP feed's resend is the same bytes as its newest delivery.
  std::string last_control_id(const std::string& feed, const std::string& sending_facility, const std::string& sending_app);
  int64_t count();
  int64_t last_id();
  uint64_t batches() const { return writer_->batches(); }

 private:
  Inbox(std::string path, int64_t window_ms);
  std::string path_;
  int64_t window_ms_;
  std::unique_ptr<GroupCommitWriter> writer_;
  std::mutex reader_mu_;
  std::unique_ptr<Database> reader_;
};

}  // namespace cc::store
