#include "serving_export.h"

#include "core/error.h"
#include "cost/estimate.h"

namespace shard {

namespace {

std::string model_argument(const Plan& plan)
{
    // The Hugging Face repo id is not part of the model spec; the user substitutes it.
    return "<" + (plan.model.id.empty() ? std::string("model") : plan.model.id) + "-checkpoint>";
}

// The part of the strategy every engine can express: Megatron TP (+ replicas, PP, EP).
void common_caveats(const Plan& plan, ServingExport& out)
{
    const Strategy& s = plan.strategy;
    const int t = s.tensor_size();
    switch (s.tensor_mode) {
    case TensorMode::None:
    case TensorMode::Megatron1D:
        break;
    case TensorMode::MegatronSP:
        out.exact = false;
        out.caveats.push_back(
            out.engine
            + " tensor parallelism keeps activations replicated between layers; Megatron "
              "sequence parallelism (ReduceScatter + AllGather) has no serving flag there. Closest: TP "
            + std::to_string(t) + ".");
        break;
    case TensorMode::Column1D:
    case TensorMode::Row1D:
        out.exact = false;
        out.caveats.push_back(out.engine + " always pairs column- and row-parallel linears (Megatron); a "
                              + to_string(s.tensor_mode) + " layout has no equivalent there. Closest: TP "
                              + std::to_string(t) + ".");
        break;
    default:
        out.exact = false;
        out.caveats.push_back(s.label() + " (" + to_string(s.tensor_mode) + ") has no equivalent in " + out.engine
                              + ": serving engines implement only 1D (Megatron) tensor parallelism. Closest: TP "
                              + std::to_string(t) + " over the same " + std::to_string(t) + " GPUs.");
        break;
    }
    if (!s.stage_layers.empty() && s.stage_layers != balanced_stage_split(plan.model.layers, s.pp))
        out.caveats.push_back("custom stage split " + [&] {
            std::string list;
            for (const int n : s.stage_layers)
                list += (list.empty() ? "" : ",") + std::to_string(n);
            return list;
        }() + " layers");
}

ServingExport vllm(const Plan& plan)
{
    const Strategy& s = plan.strategy;
    ServingExport out{"vllm", true, "", {}};
    const int t = s.tensor_size();
    std::string cmd = "vllm serve " + model_argument(plan) + " --tensor-parallel-size " + std::to_string(t);
    if (s.pp > 1)
        cmd += " --pipeline-parallel-size " + std::to_string(s.pp);
    if (s.attention == AttentionMode::Data) {
        // vLLM's attention DP: DP ranks with TP 1 for attention, experts over TP x DP.
        cmd = "vllm serve " + model_argument(plan) + " --data-parallel-size " + std::to_string(s.dp * t)
              + " --tensor-parallel-size 1";
        if (s.pp > 1)
            cmd += " --pipeline-parallel-size " + std::to_string(s.pp);
        if (!plan.model.is_moe()) {
            out.exact = false;
            out.caveats.push_back("vLLM data-parallel attention with a tensor-parallel MLP exists only for MoE models; "
                                  "for a dense model this becomes "
                                  + std::to_string(s.dp * t) + " independent replicas.");
        }
    } else if (s.dp > 1) {
        cmd += " --data-parallel-size " + std::to_string(s.dp);
    }
    if (s.ep > 1) {
        cmd += " --enable-expert-parallel";
        if (s.ep != s.dp * t) {
            out.exact = false;
            out.caveats.push_back("vLLM's expert parallelism spans TP x DP = " + std::to_string(s.dp * t)
                                  + " GPUs; this plan's EP " + std::to_string(s.ep) + " x expert-TP "
                                  + std::to_string(s.expert_tp()) + " has no exact flag.");
        }
    }
    if (plan.workload.kv_dtype == DType::FP8)
        cmd += " --kv-cache-dtype fp8";
    cmd += " --max-model-len " + std::to_string(plan.workload.prompt + plan.workload.generate);
    common_caveats(plan, out);
    if (!s.stage_layers.empty())
        out.caveats.push_back("set VLLM_PP_LAYER_PARTITION to the stage split to reproduce it");
    out.command = cmd;
    return out;
}

ServingExport sglang(const Plan& plan)
{
    const Strategy& s = plan.strategy;
    ServingExport out{"sglang", true, "", {}};
    const int t = s.tensor_size();
    std::string cmd =
        "python -m sglang.launch_server --model-path " + model_argument(plan) + " --tp-size " + std::to_string(t);
    if (s.attention == AttentionMode::Data) {
        cmd += " --dp-size " + std::to_string(t) + " --enable-dp-attention";
        if (s.dp > 1) {
            out.exact = false;
            out.caveats.push_back("SGLang's --dp-size is taken by DP attention here; run " + std::to_string(s.dp)
                                  + " servers behind the SGLang router for the model replicas.");
        }
    } else if (s.dp > 1) {
        cmd += " --dp-size " + std::to_string(s.dp);
    }
    if (s.pp > 1)
        cmd += " --pp-size " + std::to_string(s.pp);
    if (s.ep > 1)
        cmd += " --ep-size " + std::to_string(s.ep);
    if (plan.workload.kv_dtype == DType::FP8)
        cmd += " --kv-cache-dtype fp8_e4m3";
    cmd += " --context-length " + std::to_string(plan.workload.prompt + plan.workload.generate);
    common_caveats(plan, out);
    out.command = cmd;
    return out;
}

ServingExport trtllm(const Plan& plan)
{
    const Strategy& s = plan.strategy;
    ServingExport out{"trtllm", true, "", {}};
    const int t = s.tensor_size();
    std::string cmd = "trtllm-serve " + model_argument(plan) + " --tp_size " + std::to_string(t);
    if (s.pp > 1)
        cmd += " --pp_size " + std::to_string(s.pp);
    if (s.ep > 1)
        cmd += " --ep_size " + std::to_string(s.ep);
    if (s.attention == AttentionMode::Data)
        cmd += " --extra_llm_api_options attention_dp.yaml  # attention_dp.yaml: enable_attention_dp: true";
    if (s.dp > 1) {
        out.exact = false;
        out.caveats.push_back("trtllm-serve has no replica flag: start " + std::to_string(s.dp) + " servers of TP "
                              + std::to_string(t) + " behind a load balancer.");
    }
    if (s.ep > 1 && s.dp > 1) {
        out.exact = false;
        out.caveats.push_back("TensorRT-LLM's EP lives inside the TP group (moe_ep x moe_tp = tp); EP across replicas "
                              "has no flag.");
    }
    common_caveats(plan, out);
    out.command = cmd;
    return out;
}

} // namespace

std::vector<std::string> supported_serving_engines()
{
    return {"vllm", "sglang", "trtllm"};
}

ServingExport export_for_serving(const Plan& plan, const std::string& engine)
{
    // A launch command for a layout the planner rejects would start a server that cannot
    // hold the model: refuse with the planner's own reason.
    if (const Estimate e = estimate(plan.model, plan.strategy, plan.topology, plan.workload); !e.feasible)
        throw Error("plan '" + plan.name + "' (" + plan.strategy.label() + ") is not feasible: " + e.reason
                    + "; no serving command is exported for it");
    if (engine == "vllm")
        return vllm(plan);
    if (engine == "sglang")
        return sglang(plan);
    if (engine == "trtllm")
        return trtllm(plan);
    throw Error("unknown serving engine '" + engine + "' (expected vllm, sglang or trtllm)");
}

} // namespace shard
