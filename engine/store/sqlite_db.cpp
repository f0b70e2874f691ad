#include "sqlite_db.h"

#include "core/units.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace shard {

void sqlite_fail(sqlite3* db, int rc, const char* call, const std::string& sql, const char* file, int line)
{
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    std::string text = "database error: " + message;
    if (rc == SQLITE_READONLY)
        text = "the run database is read-only: " + message + " (history still reads; writes need a writable file)";
    if (!sql.empty())
        text += " [" + sql.substr(0, 120) + "]";
    // Where, for bug reports: the call and the source line that made it.
    text += " (" + std::string(call).substr(0, std::string(call).find('(')) + " at "
            + std::filesystem::path(file).filename().string() + ":" + std::to_string(line) + ")";
    throw StoreError(text);
}

namespace {

bool looks_like_sqlite(const std::string& path, bool& exists)
{
    std::ifstream in(path, std::ios::binary);
    exists = bool(in);
    if (!in)
        return true;
    char header[16] = {};
    in.read(header, 16);
    const auto got = in.gcount();
    if (got == 0)
        return true; // an empty file becomes a new database
    return got == 16 && std::memcmp(header, "SQLite format 3\0", 16) == 0;
}

} // namespace

struct SqliteDb::WaitState {
    LockWait wait;
    std::chrono::steady_clock::time_point since;
    bool cancelled = false; // the last wait ended because cancel was set
};

namespace {

[[noreturn]] void lock_failure(const SqliteDb::WaitState& w, const std::string& path)
{
    if (w.cancelled)
        throw StoreError(path + ": cancelled while waiting for the run database, which another process holds locked");
    throw StoreError(path + ": the run database stayed locked by another process for "
                     + format_fixed(double(w.wait.budget.count()) / 1000.0, 1)
                     + " s; nothing was written. Try again when that process has finished.");
}

// SQLite calls this while a lock is held elsewhere; returning 0 ends the wait with
// SQLITE_BUSY. It waits in short naps so a cancel is seen within one of them.
int wait_for_lock(void* state, int attempt)
{
    auto& w = *static_cast<SqliteDb::WaitState*>(state);
    const auto now = std::chrono::steady_clock::now();
    if (attempt == 0) {
        w.since = now;
        w.cancelled = false;
    }
    if (w.wait.cancel && w.wait.cancel->load()) {
        w.cancelled = true;
        return 0;
    }
    if (now - w.since >= w.wait.budget)
        return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 10 ? 2 : 20));
    return 1;
}

// A URI that opens path as immutable: no lock, no -shm, nothing written.
std::string immutable_uri(const std::string& path)
{
    std::string uri = "file:";
    for (const unsigned char c : std::filesystem::absolute(path).string()) {
        if (c == '?' || c == '#' || c == '%' || c < 0x21 || c >= 0x7f) {
            char escaped[4];
            std::snprintf(escaped, sizeof(escaped), "%%%02X", c);
            uri += escaped;
        } else {
            uri += char(c);
        }
    }
    return uri + "?immutable=1";
}

} // namespace

SqliteDb::SqliteDb(const std::string& path, Mode mode, LockWait wait)
    : m_path(path)
    , m_mode(mode)
    , m_wait(std::make_unique<WaitState>(WaitState{wait, {}, false}))
{
    bool exists = false;
    if (!looks_like_sqlite(path, exists))
        throw StoreError(path + ": not a ShardStudio run database (the file is not SQLite); it was left untouched");
    if (mode == Mode::ReadWrite) {
        open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    } else {
        open(path, SQLITE_OPEN_READONLY);
        // A WAL database needs its -shm file to be read; in a folder the user cannot write
        // (a shared, read-only archive) SQLite cannot create it. Nobody can be writing such
        // a file, so it is read as immutable instead.
        const int rc = sqlite3_exec(m_db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
        if ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY) {
            close();
            open(immutable_uri(path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
        }
    }
    exec("PRAGMA foreign_keys = ON");
    exec("PRAGMA cache_size = -32768"); // 32 MiB: history queries over 10,000 runs stay in memory
}

void SqliteDb::open(const std::string& name, int flags)
{
    const int rc = sqlite3_open_v2(name.c_str(), &m_db, flags | SQLITE_OPEN_FULLMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        const std::string message = m_db ? sqlite3_errmsg(m_db) : sqlite3_errstr(rc);
        close();
        throw StoreError(m_path + ": cannot open the run database: " + message);
    }
    sqlite3_busy_handler(m_db, wait_for_lock, m_wait.get());
    sqlite3_extended_result_codes(m_db, 1);
}

void SqliteDb::close()
{
    if (m_db)
        sqlite3_close_v2(m_db);
    m_db = nullptr;
}

void SqliteDb::use_wal()
{
    Statement wal(m_db, m_wait.get(), "PRAGMA journal_mode = WAL");
    wal.step();
    exec("PRAGMA synchronous = NORMAL");
}

SqliteDb::~SqliteDb()
{
    close();
}

SqliteDb::SqliteDb(SqliteDb&& other) noexcept
    : m_db(other.m_db)
    , m_path(std::move(other.m_path))
    , m_mode(other.m_mode)
    , m_wait(std::move(other.m_wait))
{
    other.m_db = nullptr;
}

SqliteDb& SqliteDb::operator=(SqliteDb&& other) noexcept
{
    if (this != &other) {
        close();
        m_db = other.m_db;
        m_path = std::move(other.m_path);
        m_mode = other.m_mode;
        m_wait = std::move(other.m_wait);
        other.m_db = nullptr;
    }
    return *this;
}

void SqliteDb::exec(const std::string& sql)
{
    char* error = nullptr;
    const int rc = sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &error);
    sqlite3_free(error);
    if (rc == SQLITE_OK)
        return;
    if ((rc & 0xff) == SQLITE_BUSY)
        lock_failure(*m_wait, m_path);
    sqlite_fail(m_db, rc, "sqlite3_exec", sql, __FILE__, __LINE__);
}

Statement SqliteDb::prepare(const std::string& sql)
{
    return Statement(m_db, m_wait.get(), sql);
}

Statement::Statement(sqlite3* db, const SqliteDb::WaitState* wait, const std::string& sql)
    : m_db(db)
    , m_wait(wait)
    , m_sql(sql)
{
    SHARD_SQLITE_CHECK(db, sqlite3_prepare_v2(db, sql.c_str(), int(sql.size()), &m_stmt, nullptr), sql);
}

Statement::~Statement()
{
    if (m_stmt)
        sqlite3_finalize(m_stmt);
}

Statement::Statement(Statement&& other) noexcept
    : m_db(other.m_db)
    , m_wait(other.m_wait)
    , m_stmt(other.m_stmt)
    , m_sql(std::move(other.m_sql))
{
    other.m_stmt = nullptr;
}

Statement& Statement::bind(int index, std::int64_t value)
{
    SHARD_SQLITE_CHECK(m_db, sqlite3_bind_int64(m_stmt, index, value), m_sql);
    return *this;
}

Statement& Statement::bind(int index, double value)
{
    SHARD_SQLITE_CHECK(m_db, sqlite3_bind_double(m_stmt, index, value), m_sql);
    return *this;
}

Statement& Statement::bind(int index, const std::string& value)
{
    SHARD_SQLITE_CHECK(m_db, sqlite3_bind_text(m_stmt, index, value.data(), int(value.size()), SQLITE_TRANSIENT),
                       m_sql);
    return *this;
}

Statement& Statement::bind_null(int index)
{
    SHARD_SQLITE_CHECK(m_db, sqlite3_bind_null(m_stmt, index), m_sql);
    return *this;
}

Statement& Statement::bind(int index, const std::optional<double>& value)
{
    return value ? bind(index, *value) : bind_null(index);
}

bool Statement::step()
{
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    sqlite3_reset(m_stmt);
    if ((rc & 0xff) == SQLITE_BUSY)
        lock_failure(*m_wait, sqlite3_db_filename(m_db, "main"));
    sqlite_fail(m_db, rc, "sqlite3_step", m_sql, __FILE__, __LINE__);
}

void Statement::reset()
{
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

std::int64_t Statement::int64(int column) const
{
    return sqlite3_column_int64(m_stmt, column);
}

double Statement::real(int column) const
{
    return sqlite3_column_double(m_stmt, column);
}

std::string Statement::text(int column) const
{
    const auto* p = sqlite3_column_text(m_stmt, column);
    return p ? std::string(reinterpret_cast<const char*>(p), std::size_t(sqlite3_column_bytes(m_stmt, column)))
             : std::string();
}

bool Statement::is_null(int column) const
{
    return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
}

Transaction::Transaction(SqliteDb& db)
    : m_db(db)
{
    m_db.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction()
{
    if (!m_done) {
        char* error = nullptr;
        sqlite3_exec(m_db.handle(), "ROLLBACK", nullptr, nullptr, &error);
        sqlite3_free(error);
    }
}

void Transaction::commit()
{
    m_db.exec("COMMIT");
    m_done = true;
}

} // namespace shard
