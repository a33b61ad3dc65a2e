// Inbox: every accepted raw message with its metadata and the ACK it got, committed durably
// (group commit) before the ACK is sent; duplicates within the window get their first ACK back.
#include "engine/store/inbox.h"

#include "engine/core/sha256.h"

namespace cc::store {

namespace {
constexpr const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS inbox (
  id INTEGER PRIMARY KEY,
  feed TEXT NOT NULL,
  peer TEXT NOT NULL,
  received_ms INTEGER NOT NULL,
  sending_app TEXT NOT NULL,
  sending_facility TEXT NOT NULL,
  control_id TEXT NOT NULL,
  message_type TEXT NOT NULL,
  content_sha256 BLOB NOT NULL,
  ack_code TEXT NOT NULL,
  ack TEXT NOT NULL,
  key_reused INTEGER NOT NULL DEFAULT 0,
  raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_key ON inbox(feed, sending_facility, sending_app, control_id, received_ms);
)SQL";

std::string sha256(const std::string& s) { return Sha256().update(s).bytes(); }

InboxRow row_from(Statement& st) {
  InboxRow r;
  r.id = st.int64(0);
  r.feed = st.text(1);
  r.peer = st.text(2);
  r.received_ms = st.int64(3);
  r.sending_app = st.text(4);
  r.sending_facility = st.text(5);
  r.control_id = st.text(6);
  r.message_type = st.text(7);
  r.ack_code = st.text(8);
  r.key_reused = st.int64(9) != 0;
  r.raw = st.blob(10);
  return r;
}

constexpr const char* kRowColumns =
    "SELECT id, feed, peer, received_ms, sending_app, sending_facility, control_id, message_type, "
    "ack_code, key_reused, raw FROM inbox ";
}  // namespace

Inbox::Inbox(std::string path, int64_t window_ms) : path_(std::move(path)), window_ms_(window_ms) {}

Inbox::~Inbox() { stop(); }

Result<std::unique_ptr<Inbox>> Inbox::open(const std::string& data_dir, int64_t window_ms) {
  std::string path = data_dir + "/inbox.db";
  try {
    auto db = std::make_unique<Database>(path, Database::Mode::ReadWrite);
    db->exec(kSchema);
    std::unique_ptr<Inbox> inbox(new Inbox(path, window_ms));
    inbox->writer_ = std::make_unique<GroupCommitWriter>(std::move(db));
    inbox->reader_ = std::make_unique<Database>(path, Database::Mode::ReadOnly);
    return inbox;
  } catch (const SqliteError& e) {
    return make_error("inbox-open", std::string("Cannot open the inbox at ") + path + ": " + e.what());
  }
}

void Inbox::submit(InboxMessage msg, std::function<void(Result<Receipt>)> done) {
  auto m = std::make_shared<InboxMessage>(std::move(msg));
  auto receipt = std::make_shared<Receipt>();
  int64_t window = window_ms_;
  auto job = [m, receipt, window](Database& db) {
    *receipt = Receipt{};
    std::string digest = sha256(m->raw);
    auto& find = db.prepare(
        "SELECT id, content_sha256, ack_code, ack FROM inbox WHERE feed=?1 AND sending_facility=?2 AND "
        "sending_app=?3 AND control_id=?4 AND received_ms>=?5 ORDER BY id");
    find.bind(1, m->feed).bind(2, m->sending_facility).bind(3, m->sending_app).bind(4, m->control_id);
    find.bind(5, m->received_ms - window);
    bool same_key = false;
    while (find.step()) {
      same_key = true;
      if (find.blob(1) == digest) {
        receipt->id = find.int64(0);
        receipt->duplicate = true;
        receipt->ack_code = find.text(2);
        receipt->ack = find.text(3);
        find.reset();
        return;
      }
    }
    find.reset();
    auto& ins = db.prepare(
        "INSERT INTO inbox(feed, peer, received_ms, sending_app, sending_facility, control_id, message_type, "
        "content_sha256, ack_code, ack, key_reused, raw) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
    ins.bind(1, m->feed).bind(2, m->peer).bind(3, m->received_ms).bind(4, m->sending_app);
    ins.bind(5, m->sending_facility).bind(6, m->control_id).bind(7, m->message_type);
    ins.bind_blob(8, digest).bind(9, m->ack_code).bind(10, m->ack).bind(11, int64_t(same_key ? 1 : 0));
    ins.bind_blob(12, m->raw);
    ins.run();
    receipt->id = db.last_insert_id();
    receipt->key_reused = same_key;
    receipt->ack_code = m->ack_code;
    receipt->ack = m->ack;
  };
  writer_->submit(std::move(job), [receipt, done = std::move(done)](Status st) {
    if (!st) {
      done(st.error());
      return;
    }
    done(std::move(*receipt));
  });
}

void Inbox::stop() {
  if (writer_) writer_->stop();
}

std::vector<InboxRow> Inbox::read_after(int64_t after_id, size_t limit, size_t max_bytes) {
  std::lock_guard lk(reader_mu_);
  std::vector<InboxRow> rows;
  auto& st = reader_->prepare(std::string(kRowColumns) + "WHERE id > ?1 ORDER BY id LIMIT ?2");
  st.bind(1, after_id).bind(2, static_cast<int64_t>(limit));
  size_t bytes = 0;
  while (bytes < max_bytes && st.step()) {
    rows.push_back(row_from(st));
    bytes += rows.back().raw.size();
  }
  st.reset();
  return rows;
}

std::vector<InboxRow> Inbox::read_for_remap(int64_t after_id, int64_t up_to_id, const std::string& feed,
                                           int64_t since_ms, size_t limit, size_t max_bytes) {
  std::lock_guard lk(reader_mu_);
  std::vector<InboxRow> rows;
  auto& st = reader_->prepare(std::string(kRowColumns) +
                              "WHERE id > ?1 AND id <= ?2 AND (?3 = '' OR feed = ?3) AND received_ms >= ?4 "
                              "ORDER BY id LIMIT ?5");
  st.bind(1, after_id).bind(2, up_to_id).bind(3, feed).bind(4, since_ms).bind(5, static_cast<int64_t>(limit));
  size_t bytes = 0;
  while (bytes < max_bytes && st.step()) {
    rows.push_back(row_from(st));
    bytes += rows.back().raw.size();
  }
  st.reset();
  return rows;
}

std::string Inbox::last_control_id(const std::string& feed, const std::string& sending_facility,
                                   const std::string& sending_app) {
  std::lock_guard lk(reader_mu_);
  auto& st = reader_->prepare(
      "SELECT control_id FROM inbox WHERE feed = ?1 AND sending_facility = ?2 AND sending_app = ?3 "
      "ORDER BY received_ms DESC, id DESC LIMIT 1");
  st.bind(1, feed).bind(2, sending_facility).bind(3, sending_app);
  std::string out = st.step() ? std::string(st.text(0)) : std::string();
  st.reset();
  return out;
}

std::optional<InboxRow> Inbox::read(int64_t id) {
  std::lock_guard lk(reader_mu_);
  auto& st = reader_->prepare(std::string(kRowColumns) + "WHERE id = ?1");
  st.bind(1, id);
  std::optional<InboxRow> row;
  if (st.step()) row = row_from(st);
  st.reset();
  return row;
}

int64_t Inbox::count() {
  std::lock_guard lk(reader_mu_);
  auto& st = reader_->prepare("SELECT count(*) FROM inbox");
  int64_t n = st.step() ? st.int64(0) : 0;
  st.reset();
  return n;
}

int64_t Inbox::last_id() {
  std::lock_guard lk(reader_mu_);
  auto& st = reader_->prepare("SELECT coalesce(max(id), 0) FROM inbox");
  int64_t n = st.step() ? st.int64(0) : 0;
  st.reset();
  return n;
}

}  // namespace cc::store
