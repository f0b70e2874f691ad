#include "workload.h"

#include "checked_number.h"
#include "model_spec.h"

namespace shard {

void Workload::validate() const
{
    checked_in(batch, limits::kBatch, "workload: batch");
    checked_in(prompt, limits::kPrompt, "workload: prompt");
    checked_in(generate, limits::kGenerate, "workload: generate");
    if (phase != Phase::Prefill && generate < 1)
        throw Error("workload: a decode phase needs at least 1 generated token");
}

void Workload::validate_for(const ModelSpec& model) const
{
    validate();
    if (context() > model.max_context)
        throw Error("workload: prompt + generated tokens (" + std::to_string(prompt) + " + " + std::to_string(generate)
                    + " = " + std::to_string(context()) + ") exceed the context of model '"
                    + (model.id.empty() ? model.name : model.id) + "' (" + std::to_string(model.max_context)
                    + " tokens)");
    const std::int64_t tokens = std::int64_t(batch) * context();
    if (tokens > limits::kMaxTokensInFlight)
        throw Error("workload: batch x (prompt + generate) = " + std::to_string(tokens)
                    + " tokens in flight is more than the " + std::to_string(limits::kMaxTokensInFlight)
                    + " this tool plans for");
    // Every sequence's KV cache at full context: the largest byte count the planner forms
    // from a workload, refused here rather than wrapped there.
    const std::int64_t per_token = model.kv_cache_bytes_per_token(bytes_per_element(kv_dtype));
    checked_mul(checked_mul(per_token, context(), "workload: KV cache bytes"), batch, "workload: KV cache bytes");
}

std::string to_string(Phase phase)
{
    switch (phase) {
    case Phase::Prefill:
        return "prefill";
    case Phase::Decode:
        return "decode";
    case Phase::Both:
        return "both";
    }
    return "both";
}

std::string to_string(Objective objective)
{
    switch (objective) {
    case Objective::TTFT:
        return "ttft";
    case Objective::TPOT:
        return "tpot";
    case Objective::Throughput:
        return "throughput";
    case Objective::Memory:
        return "memory";
    }
    return "tpot";
}

Phase parse_phase(const std::string& text)
{
    if (text == "prefill")
        return Phase::Prefill;
    if (text == "decode")
        return Phase::Decode;
    if (text == "both")
        return Phase::Both;
    throw Error("unknown phase '" + text + "' (expected prefill, decode or both)");
}

Objective parse_objective(const std::string& text)
{
    if (text == "ttft")
        return Objective::TTFT;
    if (text == "tpot")
        return Objective::TPOT;
    if (text == "throughput")
        return Objective::Throughput;
    if (text == "memory")
        return Objective::Memory;
    throw Error("unknown objective '" + text + "' (expected ttft, tpot, throughput or memory)");
}

OrderedJson workload_to_json(const Workload& w)
{
    OrderedJson j;
    j["phase"] = to_string(w.phase);
    j["batch"] = w.batch;
    j["prompt"] = w.prompt;
    j["generate"] = w.generate;
    j["dtype"] = to_string(w.dtype);
    j["kv_dtype"] = to_string(w.kv_dtype);
    j["objective"] = to_string(w.objective);
    return j;
}

Workload workload_from_json(const Json& json, const std::string& context)
{
    const JsonReader r(json, context);
    Workload w;
    try {
        w.phase = parse_phase(r.string_or("phase", "both"));
        w.objective = parse_objective(r.string_or("objective", "tpot"));
        w.dtype = parse_dtype(r.string_or("dtype", "bf16"));
        w.kv_dtype = parse_dtype(r.string_or("kv_dtype", to_string(w.dtype)));
    } catch (const Error& e) {
        throw Error(context + ": " + e.what());
    }
    w.batch = r.count("batch", limits::kBatch);
    w.prompt = r.count("prompt", limits::kPrompt);
    w.generate = r.count_or("generate", 0, limits::kGenerate);
    try {
        w.validate();
    } catch (const Error& e) {
        throw Error(context + ": " + e.what());
    }
    return w;
}

} // namespace shard
