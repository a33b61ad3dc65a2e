// Thin RAII wrapper over SQLite: a connection, prepared statements, transactions.
// Prepared statements only; every failure carries SQLite's own message.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cc::store {

// Thrown inside the store only; the store's public functions turn it into cc::Error.
struct SqliteError : std::runtime_error {
  int code;
  SqliteError(int c, const std::string& what) : std::runtime_error(what), code(c) {}
};

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, int64_t v);
  Statement& bind(int i, std::string_view v);  // bound as TEXT (copied)
  Statement& bind_blob(int i, std::string_view v);
  Statement& bind_null(int i);
  // Steps once: true while a row is available.
  bool step();
  // Runs to completion (for writes).
  void run();
  void reset();

  int64_t int64(int col) const;
  std::string_view text(int col) const;
  std::string_view blob(int col) const;
  bool is_null(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  enum class Mode { ReadWrite, ReadOnly };
  // Full: every commit survives power loss (synchronous=FULL) — the inbox and the audit log.
  // Normal: a commit may be lost on power loss but never half-applied (synchronous=NORMAL in WAL)
  // — for what can be rebuilt from the inbox, such as the mapped record.
  enum class Durability { Full, Normal };
  // Opens (creating when ReadWrite) a database in WAL mode.
  Database(const std::string& path, Mode mode, Durability durability = Durability::Full);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(std::string_view sql);
  // A cached prepared statement for this SQL text, reset and ready to bind.
  Statement& prepare(const std::string& sql);
  int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  int changes() const { return sqlite3_changes(db_); }
  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back if not committed.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace cc::store
