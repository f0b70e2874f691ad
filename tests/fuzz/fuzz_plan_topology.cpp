// Fuzz target: a *.shardplan.json (model, topology, workload, strategy) or a topology file.
#include "fuzz_target.h"

#include "core/plan.h"
#include "core/topology.h"
#include "cost/estimate.h"

FUZZ_TARGET(text)
{
    const shard::Json json = shard::parse_json_text(text, "input.json");
    if (json.is_object() && json.contains("format")) {
        const shard::Plan plan = shard::plan_from_text(std::string(text), "plan.shardplan.json");
        // An accepted plan is priced, as `explain` and the studio do.
        (void)shard::estimate(plan.model, plan.strategy, plan.topology, plan.workload);
        (void)shard::dump_json(shard::plan_to_json(plan));
    } else {
        const shard::Topology topology = shard::topology_from_json(json, "topology.json");
        (void)shard::dump_json(shard::topology_to_json(topology));
    }
}
