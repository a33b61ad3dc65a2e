// AuditLog: append-only record of every disclosure of patient data (who, role, organisation,
// what, when), committed before the response leaves. Group-committed like the inbox.
#include "engine/store/audit_log.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <map>
#include <set>

#include "engine/core/sha256.h"

namespace cc::store {

namespace {
constexpr const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, user TEXT NOT NULL, role TEXT NOT NULL, org TEXT NOT NULL,
  purpose_of_use TEXT NOT NULL, action TEXT NOT NULL, query TEXT NOT NULL, patient_id TEXT NOT NULL,
  resources TEXT NOT NULL, outcome TEXT NOT NULL, peer TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_patient ON audit(patient_id, time_ms);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TABLE IF NOT EXISTS audit_checkpoint (
  entry_id INTEGER PRIMARY KEY, hash TEXT NOT NULL, time_ms INTEGER NOT NULL, signature TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
)SQL";

// The chain's columns, for logs created before them (their earlier entries are outside the chain).
void migrate(Database& db) {
  bool has_hash = false;
  auto& cols = db.prepare("PRAGMA table_info(audit)");
  while (cols.step()) has_hash = has_hash || cols.text(1) == "hash";
  cols.reset();
  if (!has_hash) {
    db.exec("ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT ''");
    db.exec("ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT ''");
  }
}

// The columns entry_from() reads, in its order.
constexpr const char* kEntryColumns =
    "SELECT id, time_ms, user, role, org, purpose_of_use, action, query, patient_id, resources, outcome, peer, "
    "prev_hash, hash ";

AuditEntry entry_from(Statement& st) {
  AuditEntry e;
  e.id = st.int64(0);
  e.time_ms = st.int64(1);
  e.user = st.text(2);
  e.role = st.text(3);
  e.org = st.text(4);
  e.purpose_of_use = st.text(5);
  e.action = st.text(6);
  e.query = st.text(7);
  e.patient_id = st.text(8);
  e.resources = st.text(9);
  e.outcome = st.text(10);
  e.peer = st.text(11);
  e.prev_hash = st.text(12);
  e.hash = st.text(13);
  return e;
}

std::string hex(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 0x0f];
  }
  return out;
}

// Hex to bytes; anything that is not hex gives "" (a signature that then fails to verify).
std::string unhex(const std::string& s) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (s.size() % 2) return {};
  std::string out;
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = nibble(s[i]), lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return {};
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string chain_hash(const std::string& prev, const std::string& canonical) {
  return Sha256().update(prev).update(canonical).hex();
}

// What a checkpoint signs.
std::string checkpoint_message(int64_t entry_id, const std::string& hash) {
  return "carerecord-audit-checkpoint|" + std::to_string(entry_id) + "|" + hash;
}

// The Ed25519 key in DIR/audit-signing.key (PEM, 0600), made on first use.
EVP_PKEY* load_or_create_signing_key(const std::string& data_dir) {
  const std::string path = data_dir + "/audit-signing.key";
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    return key;
  }
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &key) <= 0) key = nullptr;
  EVP_PKEY_CTX_free(ctx);
  if (!key) return nullptr;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  FILE* f = fd >= 0 ? fdopen(fd, "w") : nullptr;
  if (!f || !PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr)) {
    if (f) std::fclose(f);
    EVP_PKEY_free(key);
    return nullptr;
  }
  std::fclose(f);
  // The public half beside it, to copy somewhere the data directory's writers cannot reach and give
  // to `carerecord audit verify --public-key`.
  if (FILE* pub = std::fopen((data_dir + "/audit-signing.pub").c_str(), "w")) {
    PEM_write_PUBKEY(pub, key);
    std::fclose(pub);
  }
  return key;
}

std::string sign(EVP_PKEY* key, const std::string& message) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t length = 0;
  std::string out;
  if (EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key) > 0 &&
      EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(message.data()), message.size()) > 0) {
    std::string signature(length, '\0');
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) > 0)
      out = hex(reinterpret_cast<const unsigned char*>(signature.data()), length);
  }
  EVP_MD_CTX_free(ctx);
  return out;
}

bool signature_holds(EVP_PKEY* key, const std::string& message, const std::string& signature_hex) {
  const std::string signature = unhex(signature_hex);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) > 0 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                   reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}
}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& data_dir) {
  std::string path = data_dir + "/audit.db";
  try {
    auto db = std::make_unique<Database>(path, Database::Mode::ReadWrite);
    db->exec(kSchema);
    migrate(*db);
    EVP_PKEY* key = load_or_create_signing_key(data_dir);
    if (!key) return make_error("audit-key", "Cannot read or create the audit signing key " + data_dir + "/audit-signing.key.");
    std::unique_ptr<AuditLog> log(new AuditLog());
    log->signing_key_ = std::shared_ptr<void>(key, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); });
    log->path_ = path;
    log->writer_ = std::make_unique<GroupCommitWriter>(std::move(db));
    return log;
  } catch (const SqliteError& e) {
    return make_error("audit-open", "Cannot open the audit log at " + path + ": " + e.what());
  }
}

AuditLog::~AuditLog() { stop(); }

void AuditLog::stop() {
  if (writer_) writer_->stop();
}

std::string AuditLog::canonical(const AuditEntry& e) {
  std::string out;
  auto field = [&out](const std::string& v) {
    out += std::to_string(v.size());
    out += ':';
    out += v;
    out += ';';
  };
  field(std::to_string(e.id));
  field(std::to_string(e.time_ms));
  for (const std::string* v : {&e.user, &e.role, &e.org, &e.purpose_of_use, &e.action, &e.query, &e.patient_id,
                               &e.resources, &e.outcome, &e.peer})
    field(*v);
  return out;
}

namespace {
// Writes one entry inside the writer's transaction: the chain link is read there, so a batch that
// fails leaves it as it was; every kCheckpointEvery entries, a signed checkpoint.
void insert_entry(Database& db, AuditEntry& entry, EVP_PKEY* key) {
  auto& last = db.prepare("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1");
  entry.id = 1;
  entry.prev_hash.clear();
  if (last.step()) {
    entry.id = last.int64(0) + 1;
    entry.prev_hash = std::string(last.text(1));
  }
  last.reset();
  entry.hash = chain_hash(entry.prev_hash, AuditLog::canonical(entry));
  auto& st = db.prepare(
      "INSERT INTO audit(id, time_ms, user, role, org, purpose_of_use, action, query, patient_id, resources, "
      "outcome, peer, prev_hash, hash) VALUES (?12,?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?13,?14)");
  st.bind(1, entry.time_ms).bind(2, entry.user).bind(3, entry.role).bind(4, entry.org);
  st.bind(5, entry.purpose_of_use).bind(6, entry.action).bind(7, entry.query).bind(8, entry.patient_id);
  st.bind(9, entry.resources).bind(10, entry.outcome).bind(11, entry.peer).bind(12, entry.id);
  st.bind(13, entry.prev_hash).bind(14, entry.hash);
  st.run();
  if (entry.id % AuditLog::kCheckpointEvery == 0) {
    auto& cp = db.prepare("INSERT INTO audit_checkpoint(entry_id, hash, time_ms, signature) VALUES (?1,?2,?3,?4)");
    cp.bind(1, entry.id).bind(2, entry.hash).bind(3, entry.time_ms);
    cp.bind(4, sign(key, checkpoint_message(entry.id, entry.hash)));
    cp.run();
  }
}
}  // namespace

void AuditLog::append(AuditEntry e, std::function<void(Status)> done) {
  auto entry = std::make_shared<AuditEntry>(std::move(e));
  auto key = signing_key_;
  writer_->submit([entry, key](Database& db) { insert_entry(db, *entry, static_cast<EVP_PKEY*>(key.get())); },
                  std::move(done));
}

void AuditLog::append_all(std::vector<AuditEntry> e, std::function<void(Status)> done) {
  auto entries = std::make_shared<std::vector<AuditEntry>>(std::move(e));
  auto key = signing_key_;
  writer_->submit(
      [entries, key](Database& db) {
        for (auto& entry : *entries) insert_entry(db, entry, static_cast<EVP_PKEY*>(key.get()));
      },
      std::move(done));
}

Result<std::pair<std::vector<AuditEntry>, int64_t>> AuditLog::search(const AuditFilter& f, int64_t offset,
                                                                     int64_t count) const try {
  Database db(path_, Database::Mode::ReadOnly);
  // A patient matches its own entries and the lists (the work-list names several patients).
  const std::string where =
      " WHERE (?1 = '' OR patient_id = ?1 OR instr(' ' || patient_id || ' ', ' ' || ?1 || ' ') > 0)"
      " AND (?2 = '' OR user = ?2) AND (?3 = '' OR org = ?3) AND (?4 = '' OR outcome = ?4)"
      " AND (?5 = '' OR action = ?5) AND (?6 = 0 OR time_ms >= ?6) AND (?7 = 0 OR time_ms < ?7)";
  auto bind = [&f](Statement& st) {
    st.bind(1, f.patient_id).bind(2, f.user).bind(3, f.org).bind(4, f.outcome).bind(5, f.action);
    st.bind(6, f.from_ms).bind(7, f.to_ms);
  };
  auto& total_st = db.prepare("SELECT count(*) FROM audit" + where);
  bind(total_st);
  const int64_t total = total_st.step() ? total_st.int64(0) : 0;
  total_st.reset();
  auto& st = db.prepare(
      std::string(kEntryColumns) + "FROM audit" + where + " ORDER BY id DESC LIMIT ?8 OFFSET ?9");
  bind(st);
  st.bind(8, count).bind(9, offset);
  std::vector<AuditEntry> out;
  while (st.step()) {
    AuditEntry e = entry_from(st);
    out.push_back(std::move(e));
  }
  st.reset();
  return std::make_pair(std::move(out), total);
} catch (const SqliteError& e) {
  return make_error("audit-read", std::string("Cannot read the audit log: ") + e.what());
}

Result<AuditVerification> AuditLog::verify(const std::string& data_dir, const std::string& public_key_file) try {
  Database db(data_dir + "/audit.db", Database::Mode::ReadOnly);
  AuditVerification v;
  auto fail = [&v](int64_t id, std::string why) {
    if (!v.ok) return;
    v.ok = false;
    v.first_bad = id;
    v.problem = std::move(why);
  };
  bool has_hash = false;
  auto& cols = db.prepare("PRAGMA table_info(audit)");
  while (cols.step()) has_hash = has_hash || cols.text(1) == "hash";
  cols.reset();
  if (!has_hash) return make_error("audit-verify", "This audit log predates the hash chain; there is nothing to verify.");
  std::map<int64_t, std::string> hash_at;  // for the checkpoints
  auto& st = db.prepare(
      std::string(kEntryColumns) + "FROM audit ORDER BY id");
  std::string previous;
  int64_t expected_id = 0;
  bool chained = false;
  while (st.step()) {
    AuditEntry e = entry_from(st);
    ++v.entries;
    if (!chained && e.hash.empty()) {  // written before the chain existed
      expected_id = e.id + 1;
      continue;
    }
    if (chained && e.id != expected_id)
      fail(expected_id, "entry " + std::to_string(expected_id) + " is missing (the next entry is " + std::to_string(e.id) +
                            "): entries were deleted.");
    if (e.prev_hash != previous)
      fail(e.id, "entry " + std::to_string(e.id) +
                     " does not follow the entry before it (its link to the previous hash is broken): entries were "
                     "deleted, inserted or reordered.");
    if (chain_hash(e.prev_hash, canonical(e)) != e.hash)
      fail(e.id, "entry " + std::to_string(e.id) + " has been changed since it was written (its content no longer "
                                                   "gives its hash).");
    chained = true;
    previous = e.hash;
    expected_id = e.id + 1;
    hash_at[e.id] = e.hash;
  }
  st.reset();
  // A pinned public key (kept where the data directory's writers cannot change it) proves the
  // checkpoints; without one, the key beside the log does (which proves less: see the hazard log).
  EVP_PKEY* key = nullptr;
  if (!public_key_file.empty()) {
    if (FILE* f = std::fopen(public_key_file.c_str(), "r")) {
      key = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
      std::fclose(f);
    }
    if (!key) return make_error("audit-key", "Cannot read the public key " + public_key_file + ".");
  } else if (FILE* f = std::fopen((data_dir + "/audit-signing.key").c_str(), "r")) {
    key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
  }
  std::set<int64_t> checkpointed;
  auto& cp = db.prepare("SELECT entry_id, hash, signature FROM audit_checkpoint ORDER BY entry_id");
  while (cp.step()) {
    const int64_t id = cp.int64(0);
    const std::string hash(cp.text(1));
    ++v.checkpoints;
    checkpointed.insert(id);
    if (!key || !signature_holds(key, checkpoint_message(id, hash), std::string(cp.text(2))))
      fail(id, "the signed checkpoint at entry " + std::to_string(id) + " does not verify with the log's key.");
    auto it = hash_at.find(id);
    if (it == hash_at.end()) fail(id, "the signed checkpoint names entry " + std::to_string(id) + ", which is gone.");
    else if (it->second != hash)
      fail(id, "entry " + std::to_string(id) + " differs from its signed checkpoint: the chain was rewritten.");
  }
  cp.reset();
  if (key) EVP_PKEY_free(key);
  // Every kCheckpointEvery-th entry has its signed checkpoint: one removed with its entries is missed.
  for (const auto& [id, hash] : hash_at) {
    if (id % kCheckpointEvery == 0 && !checkpointed.count(id))
      fail(id, "entry " + std::to_string(id) + " has no signed checkpoint, though every " +
                   std::to_string(kCheckpointEvery) + "th entry gets one: the checkpoint was removed.");
  }
  return v;
} catch (const SqliteError& e) {
  return make_error("audit-read", "Cannot read the audit log in " + data_dir + ": " + e.what());
}

Result<std::vector<AuditEntry>> AuditLog::read_recent(const std::string& data_dir, int64_t limit) try {
  Database db(data_dir + "/audit.db", Database::Mode::ReadOnly);
  std::vector<AuditEntry> out;
  auto& st = db.prepare(
      std::string(kEntryColumns) + "FROM audit ORDER BY id DESC LIMIT ?1");
  st.bind(1, limit);
  while (st.step()) {
    AuditEntry e = entry_from(st);
    out.push_back(std::move(e));
  }
  return out;
} catch (const SqliteError& e) {
  return make_error("audit-read", "Cannot read the audit log in " + data_dir + ": " + e.what());
}

}  // namespace cc::store
