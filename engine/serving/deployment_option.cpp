#include "deployment_option.h"

#include "deployment_search.h"
#include "disaggregated.h"
#include "step_time.h"

#include "core/error.h"

#include <algorithm>

namespace shard::serving {

std::string DeploymentOption::label() const
{
    const std::string pool = std::to_string(replicas) + " x " + layout.label();
    return prefill_layout
               ? std::to_string(prefill_replicas) + " x " + prefill_layout->label() + " prefill + " + pool + " decode"
               : pool;
}

std::string DeploymentOption::gpu_text() const
{
    if (!prefill_layout || prefill_machine.gpu.name == machine.gpu.name)
        return machine.gpu.name;
    return prefill_machine.gpu.name + " prefill, " + machine.gpu.name + " decode";
}

const Machine& machine_of(const std::vector<Machine>& machines, const Topology& topology)
{
    for (const Machine& m : machines)
        if (m.topology == topology)
            return m;
    throw Error("the deployment runs on " + topology.name + ", which is not one of the machines searched");
}

int nodes_for(const Topology& topology, int gpus)
{
    return (gpus + topology.gpus_per_node - 1) / topology.gpus_per_node;
}

OptionRun simulate_option(const ModelSpec& model, const std::vector<Machine>& machines, const DeploymentOption& option,
                          const std::vector<Request>& requests, DType dtype, DType kv_dtype, std::optional<int> users)
{
    int longest = 2;
    for (const auto& r : requests)
        longest = std::max(longest, r.prompt + r.output);
    const int max_context = int(std::min<std::int64_t>(longest, model.max_context));
    auto steps_for = [&](const Strategy& layout, const Topology& machine) {
        return CostModelStepTime(model, layout, replica_topology(machine, layout.devices()), dtype, kv_dtype,
                                 option.limits.max_seqs, max_context, int(option.limits.max_batched_tokens),
                                 machine_of(machines, machine).efficiency);
    };
    const CostModelStepTime steps = steps_for(option.layout, option.machine);
    OptionRun out;
    out.step_source = steps.source();
    SchedulerLimits limits = option.limits;
    limits.kv_blocks = steps.kv_capacity_tokens() / limits.block_size;
    out.kv_blocks = limits.kv_blocks;
    if (!option.prefill_layout) {
        out.merged = simulate_deployment(requests, option.replicas, limits, steps, users).merged;
        return out;
    }
    if (users)
        throw Error("a disaggregated deployment is simulated under a request rate, not a fixed number of users");
    const CostModelStepTime prefill_steps = steps_for(*option.prefill_layout, option.prefill_machine);
    Pool prefill{*option.prefill_layout, option.prefill_replicas, option.limits, &prefill_steps};
    prefill.limits.kv_blocks = prefill_steps.kv_capacity_tokens() / limits.block_size;
    const Pool decode{option.layout, option.replicas, limits, &steps};
    const DisaggregatedRun run =
        simulate_disaggregated(requests, prefill, decode,
                               price_kv_transfer(model, kv_dtype, option.prefill_machine, option.machine,
                                                 *option.prefill_layout, option.layout));
    out.merged = run.merged;
    out.kv_transfer_ms = run.transfer_ms_mean;
    return out;
}

} // namespace shard::serving
