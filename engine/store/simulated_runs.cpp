#include "simulated_runs.h"

#include "core/units.h"

namespace shard {

std::int64_t add_simulated_run(RunStore& store, const SimulatedRun& run)
{
    // The start and result events every run is stored through, so a simulated run is a run
    // like any other (plan kept by hash, listed, filtered, deleted).
    run::StartEvent start;
    start.plan = run.plan_name;
    start.model = run.model;
    start.topology = run.topology;
    start.strategy = run.deployment;
    start.backend = "simulator";
    start.environment.host = host_name();
    const std::int64_t id = store.ingest(start, run.plan_json);
    run::ResultEvent result;
    result.message = run.message;
    result.ttft_ms = run.ttft_ms;
    result.tpot_ms = run.tpot_ms;
    result.tokens_per_s = run.output_tokens_per_s;
    store.ingest(result);
    Transaction tx(store.db());
    Statement kind = store.db().prepare("UPDATE runs SET kind = 'simulated' WHERE id = ?");
    kind.bind(1, id).step();
    Statement figures = store.db().prepare("INSERT INTO serving_results (run_id, json) VALUES (?, ?)");
    figures.bind(1, id).bind(2, run.result.dump()).step();
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
