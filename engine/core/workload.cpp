#include "workload.h"

namespace shard {

void Workload::validate() const
{
    if (batch < 1)
        throw Error("workload: batch must be at least 1, got " + std::to_string(batch));
    if (prompt < 1)
        throw Error("workload: prompt must be at least 1 token, got " + std::to_string(prompt));
    if (generate < 0)
        throw Error("workload: generate must not be negative, got " + std::to_string(generate));
    if (phase != Phase::Prefill && generate < 1)
        throw Error("workload: a decode phase needs at least 1 generated token");
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
    w.batch = static_cast<int>(r.positive_int("batch"));
    w.prompt = static_cast<int>(r.positive_int("prompt"));
    w.generate = static_cast<int>(r.int_or("generate", 0));
    try {
        w.validate();
    } catch (const Error& e) {
        throw Error(context + ": " + e.what());
    }
    return w;
}

} // namespace shard
