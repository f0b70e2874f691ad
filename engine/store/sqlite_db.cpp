#include "sqlite_db.h"

#include <chrono>
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

SqliteDb::SqliteDb(const std::string& path, Mode mode)
    : m_path(path)
    , m_mode(mode)
{
    bool exists = false;
    if (!looks_like_sqlite(path, exists))
        throw StoreError(path + ": not a ShardStudio run database (the file is not SQLite); it was left untouched");
    const int flags = mode == Mode::ReadOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    const int rc = sqlite3_open_v2(path.c_str(), &m_db, flags | SQLITE_OPEN_FULLMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        const std::string message = m_db ? sqlite3_errmsg(m_db) : sqlite3_errstr(rc);
        sqlite3_close(m_db);
        m_db = nullptr;
        throw StoreError(path + ": cannot open the run database: " + message);
    }
    sqlite3_busy_timeout(m_db, 10000);
    sqlite3_extended_result_codes(m_db, 1);
    exec("PRAGMA foreign_keys = ON");
    exec("PRAGMA cache_size = -32768"); // 32 MiB: history queries over 10,000 runs stay in memory
    if (mode == Mode::ReadWrite) {
        // WAL lets readers run beside one writer; the busy timeout serialises writers.
        Statement wal(m_db, "PRAGMA journal_mode = WAL");
        wal.step();
        exec("PRAGMA synchronous = NORMAL");
    }
}

SqliteDb::~SqliteDb()
{
    if (m_db)
        sqlite3_close_v2(m_db);
}

SqliteDb::SqliteDb(SqliteDb&& other) noexcept
    : m_db(other.m_db)
    , m_path(std::move(other.m_path))
    , m_mode(other.m_mode)
{
    other.m_db = nullptr;
}

SqliteDb& SqliteDb::operator=(SqliteDb&& other) noexcept
{
    if (this != &other) {
        if (m_db)
            sqlite3_close_v2(m_db);
        m_db = other.m_db;
        m_path = std::move(other.m_path);
        m_mode = other.m_mode;
        other.m_db = nullptr;
    }
    return *this;
}

void SqliteDb::exec(const std::string& sql)
{
    // Busy errors are retried: the busy timeout covers most, a few more tries cover the rest.
    for (int attempt = 0;; ++attempt) {
        char* error = nullptr;
        const int rc = sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &error);
        if (rc == SQLITE_OK)
            return;
        sqlite3_free(error);
        if ((rc & 0xff) == SQLITE_BUSY && attempt < 20) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20 * (attempt + 1)));
            continue;
        }
        sqlite_fail(m_db, rc, "sqlite3_exec", sql, __FILE__, __LINE__);
    }
}

Statement SqliteDb::prepare(const std::string& sql)
{
    return Statement(m_db, sql);
}

Statement::Statement(sqlite3* db, const std::string& sql)
    : m_db(db)
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
    for (int attempt = 0;; ++attempt) {
        const int rc = sqlite3_step(m_stmt);
        if (rc == SQLITE_ROW)
            return true;
        if (rc == SQLITE_DONE)
            return false;
        if ((rc & 0xff) == SQLITE_BUSY && attempt < 20) {
            sqlite3_reset(m_stmt);
            std::this_thread::sleep_for(std::chrono::milliseconds(20 * (attempt + 1)));
            continue;
        }
        sqlite_fail(m_db, rc, "sqlite3_step", m_sql, __FILE__, __LINE__);
    }
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
