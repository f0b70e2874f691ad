#include "simulated_runs.h"

#include "core/units.h"

namespace shard {

std::int64_t add_simulated_run(RunStore& store, const SimulatedRun& run)
{
    // The start and result events every run is stored through, so a simulated run is a run
    // like any other (plan kept by hash, listed, filtered, deleted).
    const Json start = {{"v", 1},
                        {"event", "start"},
                        {"plan", run.plan_name},
                        {"model", run.model},
                        {"topology", run.topology},
                        {"strategy", run.deployment},
                        {"backend", "simulator"},
                        {"environment", {{"host", host_name()}}}};
    const std::int64_t id = store.ingest(start, run.plan_json);
    store.ingest(Json{
        {"v", 1},
        {"event", "result"},
        {"message", run.message},
        {"measured", {{"ttft_ms", run.ttft_ms}, {"tpot_ms", run.tpot_ms}, {"tokens_per_s", run.output_tokens_per_s}}}});
    Transaction tx(store.db());
    Statement kind = store.db().prepare("UPDATE runs SET kind = 'simulated' WHERE id = ?");
    kind.bind(1, id).step();
    Statement result = store.db().prepare("INSERT INTO serving_results (run_id, json) VALUES (?, ?)");
    result.bind(1, id).bind(2, run.result.dump()).step();
    tx.commit();
    return id;
}

std::optional<Json> simulated_result(RunStore& store, std::int64_t id)
{
    Statement s = store.db().prepare("SELECT json FROM serving_results WHERE run_id = ?");
    s.bind(1, id);
    if (!s.step())
        return std::nullopt;
    return Json::parse(s.text(0));
}

} // namespace shard
