// Database (SQLite wrapper) tests: WAL and the synchronous level of each durability mode,
// transactions rolling back unless committed, and a failed open releasing the file.
#include "engine/store/sqlite.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/store/temp_dir.h"

namespace cc::store {
namespace {

using testing::TempDir;

// How many of this process's file descriptors point at `path`.
int open_fds_on(const std::string& path) {
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && target.string() == path) ++n;
  }
  return n;
}

TEST(Database, DurabilityModesSetSynchronousAndWal) {
  TempDir dir;
  {
    Database full(dir.file("full.db"), Database::Mode::ReadWrite, Database::Durability::Full);
    auto& st = full.prepare("PRAGMA synchronous");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.int64(0), 2);  // FULL
    st.reset();
    auto& jm = full.prepare("PRAGMA journal_mode");
    ASSERT_TRUE(jm.step());
    EXPECT_EQ(jm.text(0), "wal");
    jm.reset();
  }
  {
    Database normal(dir.file("normal.db"), Database::Mode::ReadWrite, Database::Durability::Normal);
    auto& st = normal.prepare("PRAGMA synchronous");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.int64(0), 1);  // NORMAL
    st.reset();
  }
  // Full is the default.
  Database dflt(dir.file("default.db"), Database::Mode::ReadWrite);
  auto& st = dflt.prepare("PRAGMA synchronous");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.int64(0), 2);
  st.reset();
}

TEST(Database, TransactionRollsBackUnlessCommitted) {
  TempDir dir;
  Database db(dir.file("tx.db"), Database::Mode::ReadWrite);
  db.exec("CREATE TABLE t(x INTEGER)");
  {
    Transaction tx(db);
    db.exec("INSERT INTO t VALUES (1)");
  }
  {
    Transaction tx(db);
    db.exec("INSERT INTO t VALUES (2)");
    tx.commit();
  }
  auto& st = db.prepare("SELECT group_concat(x) FROM t");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.text(0), "2");
  st.reset();
  EXPECT_THROW(db.exec("NOT SQL"), SqliteError);
}

TEST(Database, ReadOnlyConnectionRefusesWrites) {
  TempDir dir;
  Database rw(dir.file("ro.db"), Database::Mode::ReadWrite);
  rw.exec("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1)");
  Database ro(dir.file("ro.db"), Database::Mode::ReadOnly);
  try {
    ro.exec("INSERT INTO t VALUES (2)");
    FAIL() << "a read-only connection wrote";
  } catch (const SqliteError& e) {
    EXPECT_EQ(e.code & 0xff, SQLITE_READONLY) << e.what();
  }
  EXPECT_THROW(Database(dir.file("missing.db"), Database::Mode::ReadOnly), SqliteError);
  EXPECT_FALSE(std::filesystem::exists(dir.file("missing.db")));
}

// A file that is not a database makes the constructor throw after sqlite3_open_v2 succeeded (on
// the first PRAGMA); the connection, and its file descriptor, must not be left behind.
TEST(Database, FailedOpenReleasesTheConnection) {
  TempDir dir;
  const std::string path = dir.file("garbage.db");
  {
    std::ofstream f(path, std::ios::binary);
    f << std::string(8192, 'x');
  }
  ASSERT_EQ(open_fds_on(path), 0);
  for (int i = 0; i < 3; ++i) {
    try {
      Database db(path, Database::Mode::ReadWrite);
      FAIL() << "opened a file that is not a database";
    } catch (const SqliteError& e) {
      EXPECT_NE(std::string(e.what()).find("not a database"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(open_fds_on(path), 0) << "Database::Database leaked its sqlite3 connection on a failed PRAGMA";
}

}  // namespace
}  // namespace cc::store
