#include "run_store.h"

#include "core/units.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <unistd.h>

namespace shard {

std::string to_string(RunStatus status)
{
    switch (status) {
    case RunStatus::Running:
        return "running";
    case RunStatus::Completed:
        return "completed";
    case RunStatus::Failed:
        return "failed";
    case RunStatus::Cancelled:
        return "cancelled";
    }
    return "failed";
}

RunStatus parse_run_status(const std::string& text)
{
    if (text == "running")
        return RunStatus::Running;
    if (text == "completed")
        return RunStatus::Completed;
    if (text == "cancelled")
        return RunStatus::Cancelled;
    return RunStatus::Failed;
}

namespace {

// Forward-only migrations: entry i brings a database from version i to i + 1.
const std::vector<const char*> kMigrations = {
    R"(CREATE TABLE plans (hash TEXT PRIMARY KEY, json TEXT NOT NULL);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        plan_hash TEXT NOT NULL REFERENCES plans(hash), plan_name TEXT,
        model TEXT, topology TEXT, strategy TEXT, backend TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
        started_at TEXT NOT NULL, ended_at TEXT,
        workload TEXT, host TEXT, gpus TEXT, driver TEXT, cuda TEXT, nccl TEXT, engine_version TEXT,
        writer_pid INTEGER, message TEXT,
        ttft_ms REAL, tpot_ms REAL, tokens_per_s REAL, max_rel_error REAL,
        predicted_ttft_ms REAL, predicted_tpot_ms REAL, predicted_tokens_per_s REAL);
    CREATE TABLE op_measurements (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        rank INTEGER, step INTEGER, layer INTEGER, op TEXT, kind TEXT, us REAL, predicted_us REAL);
    CREATE TABLE collective_measurements (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        rank INTEGER, step INTEGER, op TEXT, grp TEXT, group_size INTEGER,
        bytes INTEGER, sent INTEGER, received INTEGER, us REAL, algbw REAL, busbw REAL, predicted_bytes INTEGER);
    CREATE INDEX runs_by_start ON runs(started_at);
    CREATE INDEX runs_by_model ON runs(model, started_at);
    CREATE INDEX runs_by_status ON runs(status);
    CREATE INDEX ops_by_run ON op_measurements(run_id, kind);
    CREATE INDEX collectives_by_run ON collective_measurements(run_id, op);)",
    // v2: when each op and collective started on its rank (for the timeline) and whether a
    // collective's time was modeled (emulated ranks) rather than measured.
    R"(ALTER TABLE op_measurements ADD COLUMN start_us REAL;
    ALTER TABLE collective_measurements ADD COLUMN start_us REAL;
    ALTER TABLE collective_measurements ADD COLUMN modeled INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX ops_by_step ON op_measurements(run_id, step);
    CREATE INDEX collectives_by_step ON collective_measurements(run_id, step);)",
    // v3: profiles of this machine's GPUs (shard-engine profile), each family's table as the
    // CSV text of resources/perfdb; runs that were simulated (a serving simulation) rather
    // than measured, with the simulation's figures.
    R"(CREATE TABLE machine_profiles (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL, gpu_kind TEXT NOT NULL, gpu_name TEXT, devices INTEGER NOT NULL,
        driver TEXT, cuda TEXT, nccl TEXT, engine_version TEXT, host TEXT,
        quick INTEGER NOT NULL, host_model INTEGER NOT NULL, notes TEXT);
    CREATE TABLE profile_tables (
        profile_id INTEGER NOT NULL REFERENCES machine_profiles(id) ON DELETE CASCADE,
        family TEXT NOT NULL, csv TEXT NOT NULL, PRIMARY KEY (profile_id, family));
    CREATE INDEX profiles_by_kind ON machine_profiles(gpu_kind, created_at);
    ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'measured';
    CREATE TABLE serving_results (
        run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE, json TEXT NOT NULL);)",
};

std::string now_iso()
{
    return utc_now_iso();
}

std::string hash_text(const std::string& text)
{
    std::uint64_t h = 0xcbf29ce484222325ull; // FNV-1a
    for (const unsigned char c : text) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    char buffer[17];
    std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(h));
    return buffer;
}

// A run its writer can no longer finish: the process that started it, on this host, is gone.
// Signal 0 probes a process; ESRCH means it does not exist.
bool writer_gone(std::int64_t pid, const std::string& host)
{
    if (pid <= 0 || (!host.empty() && host != host_name()))
        return false;
    return kill(pid_t(pid), 0) != 0 && errno == ESRCH;
}

std::string writer_gone_message(std::int64_t pid)
{
    return "the engine stopped without a result (process " + std::to_string(pid)
           + " is gone); its measurements up to then are kept";
}

} // namespace

std::string RunStore::default_path()
{
    std::filesystem::path base;
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
        base = xdg;
    else if (const char* home = std::getenv("HOME"); home && *home)
        base = std::filesystem::path(home) / ".local" / "share";
    else
        base = std::filesystem::temp_directory_path();
    return (base / "shardstudio" / "runs.db").string();
}

RunStore::RunStore(const std::string& path, SqliteDb::Mode mode, LockWait wait)
    : m_db([&] {
        if (mode == SqliteDb::Mode::ReadWrite) {
            std::error_code ec;
            std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
        }
        return SqliteDb(path, mode, wait);
    }())
{
    migrate();
    if (mode == SqliteDb::Mode::ReadWrite) {
        m_db.use_wal();
        recover_stale_runs();
    }
}

int RunStore::schema_version()
{
    Statement exists =
        m_db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
    exists.step();
    if (exists.int64(0) == 0)
        return 0;
    Statement version = m_db.prepare("SELECT version FROM schema_version");
    return version.step() ? int(version.int64(0)) : 0;
}

void RunStore::migrate()
{
    int version = 0;
    try {
        version = schema_version();
    } catch (const StoreError& e) {
        throw StoreError(m_db.path() + ": not a readable run database (" + e.what() + "); it was left untouched");
    }
    if (version > kSchemaVersion)
        throw StoreError(m_db.path() + ": the run database has schema version " + std::to_string(version)
                         + ", written by a newer ShardStudio; this build reads up to version "
                         + std::to_string(kSchemaVersion) + ". Update ShardStudio to open it.");
    if (version == kSchemaVersion)
        return;
    if (m_db.read_only())
        throw StoreError(m_db.path() + ": the run database needs an upgrade from schema " + std::to_string(version)
                         + " but is read-only");
    Transaction tx(m_db);
    version = schema_version(); // another writer may have migrated meanwhile
    if (version == 0) {
        Statement tables = m_db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'");
        tables.step();
        if (tables.int64(0) > 0)
            throw StoreError(m_db.path()
                             + ": an SQLite file that is not a ShardStudio run database (it has other tables); "
                               "it was left untouched");
        m_db.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
        m_db.exec("INSERT INTO schema_version VALUES (0)");
    }
    for (int v = version; v < kSchemaVersion; ++v) {
        m_db.exec(kMigrations.at(v));
        m_db.exec("UPDATE schema_version SET version = " + std::to_string(v + 1));
    }
    tx.commit();
}

std::int64_t RunStore::ingest(const Json& event, const std::string& plan_json)
{
    try {
        return ingest(run::parse_event(event), plan_json);
    } catch (const StoreError&) {
        throw;
    } catch (const Error& e) {
        throw StoreError(e.what());
    }
}

std::int64_t RunStore::ingest(const run::Event& event, const std::string& plan_json)
{
    if (const auto* start = std::get_if<run::StartEvent>(&event)) {
        flush();
        const run::RunEnvironment& env = start->environment;
        // Plans are kept once by hash: runs of the same plan share it and the run rows that
        // history lists stay small.
        const std::string plan = plan_json.empty() ? run::to_line(event) : plan_json;
        const std::string hash = hash_text(plan);
        Transaction tx(m_db);
        Statement keep = m_db.prepare("INSERT OR IGNORE INTO plans (hash, json) VALUES (?, ?)");
        keep.bind(1, hash).bind(2, plan).step();
        Statement insert = m_db.prepare(
            "INSERT INTO runs (plan_hash, plan_name, model, topology, strategy, backend, status, started_at, "
            "host, gpus, engine_version, writer_pid, workload, driver, cuda, nccl) "
            "VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        insert.bind(1, hash)
            .bind(2, start->plan)
            .bind(3, start->model)
            .bind(4, start->topology)
            .bind(5, start->strategy)
            .bind(6, start->backend)
            .bind(7, now_iso())
            .bind(8, env.host)
            .bind(9, Json(env.gpus).dump())
            .bind(10, env.engine_version)
            .bind(11, std::int64_t(getpid()))
            .bind(12, Json{{"batch", start->batch}, {"prompt", start->prompt}, {"steps", start->steps}}.dump())
            .bind(13, env.driver)
            .bind(14, env.cuda)
            .bind(15, env.nccl);
        insert.step();
        tx.commit();
        m_current = m_db.last_insert_id();
        return m_current;
    }
    if (m_current == 0)
        throw StoreError("event '" + run::kind_of(event) + "' arrived before a 'start' event");
    if (const auto* op = std::get_if<run::OpEvent>(&event))
        m_pending.emplace_back(*op);
    else if (const auto* collective = std::get_if<run::CollectiveEvent>(&event))
        m_pending.emplace_back(*collective);
    if (m_pending.size() >= 2000)
        write_batch();
    const auto* result = std::get_if<run::ResultEvent>(&event);
    const auto* error = std::get_if<run::ErrorEvent>(&event);
    if (result || error) {
        flush();
        Statement update = m_db.prepare(
            "UPDATE runs SET status = ?, ended_at = ?, message = ?, ttft_ms = ?, tpot_ms = ?, tokens_per_s = ?, "
            "max_rel_error = ?, predicted_ttft_ms = ?, predicted_tpot_ms = ?, predicted_tokens_per_s = ? WHERE id = ?");
        const run::ResultEvent none;
        const run::ResultEvent& r = result ? *result : none;
        const std::string status = result ? "completed" : error->status == "cancelled" ? "cancelled" : "failed";
        update.bind(1, status)
            .bind(2, now_iso())
            .bind(3, result ? r.message : error->message)
            .bind(4, r.ttft_ms)
            .bind(5, r.tpot_ms)
            .bind(6, r.tokens_per_s)
            .bind(7, r.max_rel_error)
            .bind(8, r.predicted_ttft_ms)
            .bind(9, r.predicted_tpot_ms)
            .bind(10, r.predicted_tokens_per_s)
            .bind(11, m_current);
        update.step();
        return m_current;
    }
    if (std::holds_alternative<run::ProgressEvent>(event)) // one transaction per step: a killed run keeps every
        flush(); // finished step
    return m_current; // other events carry nothing to keep
}

void RunStore::flush()
{
    if (!m_pending.empty())
        write_batch();
}

void RunStore::write_batch()
{
    Transaction tx(m_db);
    Statement op = m_db.prepare("INSERT INTO op_measurements (run_id, rank, step, layer, op, kind, us, predicted_us, "
                                "start_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    Statement coll =
        m_db.prepare("INSERT INTO collective_measurements (run_id, rank, step, op, grp, group_size, bytes, "
                     "sent, received, us, algbw, busbw, predicted_bytes, start_us, modeled) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const auto& pending : m_pending) {
        if (const auto* e = std::get_if<run::OpEvent>(&pending)) {
            op.bind(1, m_current)
                .bind(2, std::int64_t(e->rank))
                .bind(3, std::int64_t(e->step))
                .bind(4, std::int64_t(e->layer))
                .bind(5, e->op)
                .bind(6, e->kind)
                .bind(7, e->us)
                .bind(8, e->predicted_us)
                .bind(9, e->start_us);
            op.step();
            op.reset();
        } else {
            const auto& c = std::get<run::CollectiveEvent>(pending);
            coll.bind(1, m_current)
                .bind(2, std::int64_t(c.rank))
                .bind(3, std::int64_t(c.step))
                .bind(4, c.op)
                .bind(5, c.group)
                .bind(6, std::int64_t(c.group_size))
                .bind(7, c.bytes)
                .bind(8, c.sent)
                .bind(9, c.received)
                .bind(10, c.us)
                .bind(11, c.algbw)
                .bind(12, c.busbw);
            if (c.predicted_bytes)
                coll.bind(13, *c.predicted_bytes);
            else
                coll.bind_null(13);
            coll.bind(14, c.start_us).bind(15, std::int64_t(c.modeled));
            coll.step();
            coll.reset();
        }
    }
    tx.commit();
    m_pending.clear();
}

namespace {

RunRecord record_from(Statement& s)
{
    RunRecord r;
    r.id = s.int64(0);
    r.plan_name = s.text(1);
    r.plan_hash = s.text(2);
    r.model = s.text(3);
    r.topology = s.text(4);
    r.strategy = s.text(5);
    r.backend = s.text(6);
    r.status = parse_run_status(s.text(7));
    r.started_at = s.text(8);
    r.ended_at = s.text(9);
    r.host = s.text(10);
    r.engine_version = s.text(11);
    r.message = s.text(12);
    auto opt = [&](int c) { return s.is_null(c) ? std::nullopt : std::optional<double>(s.real(c)); };
    r.ttft_ms = opt(13);
    r.tpot_ms = opt(14);
    r.tokens_per_s = opt(15);
    r.max_rel_error = opt(16);
    r.predicted_ttft_ms = opt(17);
    r.predicted_tpot_ms = opt(18);
    r.predicted_tokens_per_s = opt(19);
    r.kind = s.text(21);
    if (r.status == RunStatus::Running && writer_gone(s.int64(20), r.host)) {
        r.status = RunStatus::Failed;
        r.message = writer_gone_message(s.int64(20));
    }
    return r;
}

constexpr const char* kRunColumns =
    "SELECT id, plan_name, plan_hash, model, topology, strategy, backend, status, started_at, ended_at, host, "
    "engine_version, message, ttft_ms, tpot_ms, tokens_per_s, max_rel_error, predicted_ttft_ms, predicted_tpot_ms, "
    "predicted_tokens_per_s, writer_pid, kind FROM runs";

} // namespace

namespace {

// started_at is "YYYY-MM-DDTHH:MM:SSZ", compared as text: a bound must be a prefix of that
// form with real calendar values, or every run would silently match (or none).
void check_since(const std::string& since)
{
    const std::string form = "0000-00-00T00:00:00Z";
    bool ok =
        since.size() == 10 || since.size() == 13 || since.size() == 16 || since.size() == 19 || since.size() == 20;
    for (std::size_t i = 0; ok && i < since.size(); ++i)
        ok = form[i] == '0' ? std::isdigit(static_cast<unsigned char>(since[i])) != 0 : since[i] == form[i];
    auto field = [&](std::size_t at) { return std::stoi(since.substr(at, 2)); };
    if (ok) {
        const int month = field(5);
        const int day = field(8);
        ok = month >= 1 && month <= 12 && day >= 1 && day <= 31;
        if (ok && since.size() >= 13)
            ok = field(11) <= 23;
        if (ok && since.size() >= 16)
            ok = field(14) <= 59;
        if (ok && since.size() >= 19)
            ok = field(17) <= 60;
    }
    if (!ok)
        throw Error("since '" + since
                    + "' is not a UTC date or time (expected YYYY-MM-DD, YYYY-MM-DDTHH, YYYY-MM-DDTHH:MM or "
                      "YYYY-MM-DDTHH:MM:SS[Z])");
}

} // namespace

std::vector<RunRecord> RunStore::list(const HistoryFilter& f)
{
    if (!f.since.empty())
        check_since(f.since);
    std::string sql = std::string(kRunColumns) + " WHERE 1 = 1";
    std::vector<std::string> values;
    auto add = [&](const std::string& value, const char* clause) {
        if (!value.empty()) {
            sql += clause;
            values.push_back(value);
        }
    };
    add(f.model, " AND model = ?");
    add(f.topology, " AND topology = ?");
    add(f.backend, " AND backend = ?");
    add(f.since, " AND started_at >= ?");
    sql += " ORDER BY id DESC"; // ids grow with start time; no sort needed
    if (f.limit > 0)
        sql += " LIMIT " + std::to_string(f.limit);
    Statement s = m_db.prepare(sql);
    for (std::size_t i = 0; i < values.size(); ++i)
        s.bind(int(i) + 1, values[i]);
    std::vector<RunRecord> runs;
    while (s.step())
        runs.push_back(record_from(s));
    return runs;
}

std::optional<RunRecord> RunStore::get(std::int64_t id)
{
    Statement s = m_db.prepare(std::string(kRunColumns) + " WHERE id = ?");
    s.bind(1, id);
    if (!s.step())
        return std::nullopt;
    RunRecord r = record_from(s);
    Statement ops = m_db.prepare("SELECT count(*) FROM op_measurements WHERE run_id = ?");
    ops.bind(1, id).step();
    r.op_rows = ops.int64(0);
    Statement colls = m_db.prepare("SELECT count(*) FROM collective_measurements WHERE run_id = ?");
    colls.bind(1, id).step();
    r.collective_rows = colls.int64(0);
    return r;
}

bool RunStore::remove(std::int64_t id)
{
    Transaction tx(m_db);
    Statement s = m_db.prepare("DELETE FROM runs WHERE id = ?");
    s.bind(1, id).step();
    const bool removed = sqlite3_changes(m_db.handle()) > 0;
    tx.commit();
    return removed;
}

int RunStore::recover_stale_runs()
{
    std::vector<std::pair<std::int64_t, std::int64_t>> stale;
    {
        Statement s = m_db.prepare("SELECT id, writer_pid, host FROM runs WHERE status = 'running'");
        while (s.step())
            if (writer_gone(s.int64(1), s.text(2)))
                stale.emplace_back(s.int64(0), s.int64(1));
    }
    for (const auto& [id, pid] : stale) {
        Statement u = m_db.prepare("UPDATE runs SET status = 'failed', ended_at = ?, message = ? WHERE id = ? AND "
                                   "status = 'running'");
        u.bind(1, now_iso()).bind(2, writer_gone_message(pid)).bind(3, id);
        u.step();
    }
    return int(stale.size());
}

std::map<std::string, RunStore::KindTime> RunStore::decode_ms_by_kind(std::int64_t id)
{
    std::map<std::string, KindTime> out;
    Statement s =
        m_db.prepare("SELECT kind, sum(us) / max(1, count(DISTINCT step) * count(DISTINCT rank)), "
                     "sum(predicted_us) / max(1, count(DISTINCT step) * count(DISTINCT rank)) FROM op_measurements "
                     "WHERE run_id = ? AND step > 0 GROUP BY kind");
    s.bind(1, id);
    while (s.step()) {
        KindTime& k = out[s.text(0)];
        k.measured_ms = s.real(1) / 1000.0;
        if (!s.is_null(2))
            k.predicted_ms = s.real(2) / 1000.0;
    }
    Statement c = m_db.prepare("SELECT op, sum(us) / max(1, count(DISTINCT step) * count(DISTINCT rank)), "
                               "max(modeled) FROM collective_measurements WHERE run_id = ? AND step > 0 GROUP BY op");
    c.bind(1, id);
    while (c.step()) {
        KindTime& k = out[c.text(0)];
        k.measured_ms = c.real(1) / 1000.0;
        k.collective = true;
        k.modeled = c.int64(2) != 0;
    }
    return out;
}

std::optional<std::string> RunStore::plan_json(std::int64_t id)
{
    Statement s =
        m_db.prepare("SELECT plans.json FROM runs JOIN plans ON plans.hash = runs.plan_hash WHERE runs.id = ?");
    s.bind(1, id);
    if (!s.step())
        return std::nullopt;
    return s.text(0);
}

std::string host_name()
{
    char name[256] = {};
    return gethostname(name, sizeof(name) - 1) == 0 ? std::string(name) : std::string();
}

} // namespace shard
