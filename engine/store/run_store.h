#pragma once

#include "run/events.h"

#include "sqlite_db.h"

#include "core/json_util.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace shard {

enum class RunStatus { Running, Completed, Failed, Cancelled };
std::string to_string(RunStatus status);
RunStatus parse_run_status(const std::string& text);

// This machine's name, as runs and profiles record where they were measured.
std::string host_name();

struct RunRecord {
    std::int64_t id = 0;
    std::string plan_name;
    std::string plan_hash;
    std::string model;
    std::string topology;
    std::string strategy;
    std::string backend;
    // "measured" (a backend ran it) or "simulated" (the serving simulator, on predicted
    // step times): what ttft_ms, tpot_ms and tokens_per_s are.
    std::string kind = "measured";
    RunStatus status = RunStatus::Running;
    std::string started_at; // ISO 8601, UTC
    std::string ended_at;
    std::string host;
    std::string engine_version;
    std::string message;
    std::optional<double> ttft_ms, tpot_ms, tokens_per_s, max_rel_error; // measured
    std::optional<double> predicted_ttft_ms, predicted_tpot_ms, predicted_tokens_per_s; // planner
    std::int64_t op_rows = 0;
    std::int64_t collective_rows = 0;
};

struct HistoryFilter {
    std::string model;
    std::string topology;
    std::string backend;
    std::string since; // ISO date or date-time; runs started at or after it
    int limit = 0; // 0: all
};

// The SQLite run store (DESIGN.md section 5). Schema migrations are forward-only; a database
// of a newer schema is refused, a file that is not SQLite is refused and left untouched.
class RunStore {
public:
    static constexpr int kSchemaVersion = 3;
    static std::string default_path(); // $XDG_DATA_HOME/shardstudio/runs.db

    RunStore(const std::string& path, SqliteDb::Mode mode = SqliteDb::Mode::ReadWrite, LockWait wait = {});

    int schema_version();
    SqliteDb& db() { return m_db; }

    // Feeds one event of the protocol; returns the run id it belongs to. `start` creates the
    // run (keeping `plan_json`, else the event itself, as its plan), `op` / `collective` rows
    // are buffered and written in one transaction per `progress` event (every step),
    // `result` / `error` write the final status.
    std::int64_t ingest(const run::Event& event, const std::string& plan_json = {});
    // The same from a JSON object, read by the protocol's parser.
    std::int64_t ingest(const Json& event, const std::string& plan_json = {});
    void flush();

    std::vector<RunRecord> list(const HistoryFilter& filter = {});
    std::optional<RunRecord> get(std::int64_t id);
    bool remove(std::int64_t id);
    // Per op kind and per collective kind: measured ms per decode step (mean over the ranks
    // and steps that ran it) and, where the op events carried it, the predicted ms.
    // Collectives carry no prediction of their own (compare_decode_by_kind adds the plan's).
    struct KindTime {
        double measured_ms = 0;
        std::optional<double> predicted_ms;
        bool collective = false;
        bool modeled = false; // a collective timed by the cost model (emulated ranks), not a clock
    };
    std::map<std::string, KindTime> decode_ms_by_kind(std::int64_t id);
    // The plan a run ran, as it was stored (a *.shardplan.json text), or nullopt.
    std::optional<std::string> plan_json(std::int64_t id);
    // Runs left "running" by a process that no longer exists become "failed", keeping what
    // they measured. Returns how many were marked. Reads (list, get) report such runs as
    // failed too, so a read-only database shows the same.
    int recover_stale_runs();

private:
    void migrate();
    void write_batch();

    SqliteDb m_db;
    std::int64_t m_current = 0;
    std::vector<std::variant<run::OpEvent, run::CollectiveEvent>> m_pending;
};

} // namespace shard
