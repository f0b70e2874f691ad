#include "fit_hints.h"

#include "core/checked_number.h"

namespace shard {

std::vector<FitHint> fit_hints(const ModelSpec& model, const Topology& topology, const Workload& workload,
                               const PlannerOptions& options)
{
    std::vector<FitHint> hints;
    auto attempt = [&](const std::string& change, const Topology& t, const Workload& w) {
        try {
            const int feasible = plan_candidates(model, t, w, options).feasible;
            if (feasible > 0)
                hints.push_back({change, feasible});
        } catch (const Error&) {
            // a change the inputs cannot take (a topology past its limits): not a hint
        }
    };
    if (workload.dtype != DType::FP8 || workload.kv_dtype != DType::FP8) {
        Workload w = workload;
        w.dtype = w.kv_dtype = DType::FP8;
        attempt("fp8 weights and KV cache", topology, w);
    }
    if (workload.kv_dtype != DType::FP8 && workload.phase != Phase::Prefill) {
        Workload w = workload;
        w.kv_dtype = DType::FP8;
        attempt("an fp8 KV cache", topology, w);
    }
    // The largest smaller batch that fits: halving until one does.
    for (int batch = workload.batch / 2; batch >= 1; batch /= 2) {
        Workload w = workload;
        w.batch = batch;
        const std::size_t before = hints.size();
        attempt("batch " + std::to_string(batch) + " instead of " + std::to_string(workload.batch), topology, w);
        if (hints.size() > before)
            break;
    }
    if (workload.prompt > 1) {
        Workload w = workload;
        w.prompt = std::max(1, workload.prompt / 2);
        attempt("prompt " + std::to_string(w.prompt) + " tokens instead of " + std::to_string(workload.prompt),
                topology, w);
    }
    if (topology.nodes * 2 <= limits::kNodes.max) {
        Topology t = topology;
        t.nodes *= 2;
        std::string assumed;
        if (t.inter.busbw_gbps <= 0 || t.nics_per_node < 1) {
            // A one-node topology says nothing of its network: assume what a DGX has, one
            // 400 Gb/s InfiniBand NIC per GPU (as the 2x-dgx-h100 preset does).
            t.inter = {"infiniband", 47, 25};
            t.nics_per_node = t.gpus_per_node;
            assumed = ", one InfiniBand NDR NIC per GPU";
        }
        attempt(std::to_string(t.nodes) + " nodes (" + std::to_string(t.total_gpus()) + " GPUs" + assumed + ")", t,
                workload);
    }
    return hints;
}

std::string describe_fit_hints(const std::vector<FitHint>& hints)
{
    if (hints.empty())
        return "none of fp8, a smaller batch, a shorter prompt or twice the nodes makes a layout fit";
    std::string text = "it would fit with ";
    for (std::size_t i = 0; i < hints.size(); ++i)
        text += (i ? "; or with " : "") + hints[i].change + " (" + std::to_string(hints[i].feasible)
                + (hints[i].feasible == 1 ? " layout)" : " layouts)");
    return text;
}

} // namespace shard
