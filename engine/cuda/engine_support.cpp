#include "engine_support.h"

#include "core/error.h"
#include "run/model_weights.h"

namespace shard::cuda {

std::string gpu_unsupported_reason(const ModelSpec& model, const Strategy& s)
{
    if (const auto why = run::reference_unsupported_reason(model, false); !why.empty())
        return why;
    if (model.is_moe()) {
        const MoeSpec& moe = *model.moe;
        if (s.ep > 1 && s.dp == 1 && s.tensor_size() % s.ep != 0)
            return "expert parallelism (EP " + std::to_string(s.ep) + ") must divide the tensor group ("
                   + std::to_string(s.tensor_size()) + ") in the CUDA engine";
        if (moe.router_bias)
            return "routers with a score-correction bias are not in the CUDA engine yet (the CPU backend runs them)";
        if (model.mlp_bias)
            return "experts with biases are not in the CUDA engine yet (the CPU backend runs them)";
        if (moe.experts_per_token > kEngineMaxTopK)
            return "top-" + std::to_string(moe.experts_per_token) + " routing is above the engine's top-"
                   + std::to_string(kEngineMaxTopK);
    }
    return {};
}

ShardGeometry runnable_geometry(const ModelSpec& model, const Strategy& strategy, const Workload& workload)
{
    if (const auto why = gpu_unsupported_reason(model, strategy); !why.empty())
        throw Error(why);
    ShardGeometry geometry = shard_geometry(model, strategy, workload);
    if (!geometry.feasible())
        throw Error("the plan cannot run: " + geometry.reject);
    return geometry;
}

void require_local_gpus(int needed, int visible)
{
    if (visible < needed)
        throw Error("the plan needs " + std::to_string(needed) + " GPUs and this machine has " + std::to_string(visible)
                    + "; run it with --backend cuda-emulated to emulate the ranks on one GPU");
}

} // namespace shard::cuda
