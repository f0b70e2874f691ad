#pragma once

#include "core/error.h"

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace shard {

class StoreError : public Error {
public:
    using Error::Error;
};

// Throws StoreError naming the call, the database message and, when given, the SQL.
#define SHARD_SQLITE_CHECK(db, call, sql)                                                                              \
    do {                                                                                                               \
        const int shard_rc_ = (call);                                                                                  \
        if (shard_rc_ != SQLITE_OK && shard_rc_ != SQLITE_DONE && shard_rc_ != SQLITE_ROW)                             \
            ::shard::sqlite_fail(db, shard_rc_, #call, sql, __FILE__, __LINE__);                                       \
    } while (false)

[[noreturn]] void sqlite_fail(sqlite3* db, int rc, const char* call, const std::string& sql, const char* file,
                              int line);

class Statement;

// How long a connection waits for a lock another process holds, and what stops the wait.
struct LockWait {
    std::chrono::milliseconds budget{20000}; // per statement; then a StoreError naming the lock
    const std::atomic<bool>* cancel = nullptr; // set (Ctrl-C, SIGTERM): stop waiting at once
};

// A move-only connection: foreign keys and a bounded, cancellable wait for locks, so several
// writers (the GUI and CLIs) share one file without "database is locked" reaching the user
// and without a locked file holding a cancelled run hostage.
class SqliteDb {
public:
    enum class Mode { ReadWrite, ReadOnly };
    SqliteDb(const std::string& path, Mode mode, LockWait wait = {});
    ~SqliteDb();
    SqliteDb(SqliteDb&& other) noexcept;
    SqliteDb& operator=(SqliteDb&& other) noexcept;
    SqliteDb(const SqliteDb&) = delete;
    SqliteDb& operator=(const SqliteDb&) = delete;

    sqlite3* handle() const { return m_db; }
    const std::string& path() const { return m_path; }
    bool read_only() const { return m_mode == Mode::ReadOnly; }
    // WAL lets readers run beside one writer. Switched on only once the file is known to be
    // ours, so a foreign SQLite file is refused exactly as it was found.
    void use_wal();
    void exec(const std::string& sql);
    Statement prepare(const std::string& sql);
    std::int64_t last_insert_id() const { return sqlite3_last_insert_rowid(m_db); }

    struct WaitState; // what the busy handler reads; heap-held so moves keep it in place

private:
    void open(const std::string& name, int flags);
    void close();

    sqlite3* m_db = nullptr;
    std::string m_path;
    Mode m_mode = Mode::ReadWrite;
    std::unique_ptr<WaitState> m_wait;
};

// A move-only prepared statement; binds are 1-based as in SQLite.
class Statement {
public:
    Statement(sqlite3* db, const SqliteDb::WaitState* wait, const std::string& sql);
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    Statement& operator=(Statement&&) = delete;

    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, double value);
    Statement& bind(int index, const std::string& value);
    Statement& bind_null(int index);
    Statement& bind(int index, const std::optional<double>& value);
    bool step(); // true while rows come back
    void reset();
    std::int64_t int64(int column) const;
    double real(int column) const;
    std::string text(int column) const;
    bool is_null(int column) const;

private:
    sqlite3* m_db;
    const SqliteDb::WaitState* m_wait;
    sqlite3_stmt* m_stmt = nullptr;
    std::string m_sql;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when left by an exception.
class Transaction {
public:
    explicit Transaction(SqliteDb& db);
    ~Transaction();
    void commit();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

private:
    SqliteDb& m_db;
    bool m_done = false;
};

} // namespace shard
