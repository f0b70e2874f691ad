#include "run_description.h"

#include "core/checked_number.h"

#include <limits>

namespace shard::run {

namespace {

Backend parse_backend(const std::string& text)
{
    if (text == "cpu")
        return Backend::Cpu;
    if (text == "cuda")
        return Backend::Cuda;
    if (text == "cuda-emulated")
        return Backend::CudaEmulated;
    throw Error("unknown backend '" + text + "' (expected cpu, cuda or cuda-emulated)");
}

} // namespace

bool parse_on_off(const std::string& text, const char* option)
{
    if (text == "on")
        return true;
    if (text == "off")
        return false;
    throw Error(std::string(option) + " takes on or off, not '" + text + "'");
}

DType parse_gpu_element_type(const std::string& text)
{
    if (text == "fp32" || text == "f32" || text == "float32")
        return DType::FP32;
    if (text == "fp16" || text == "f16" || text == "float16")
        return DType::FP16;
    if (text == "bf16" || text == "bfloat16")
        return DType::BF16;
    throw Error("unknown dtype '" + text + "' for the CUDA engine (expected bf16, fp16 or fp32)");
}

std::string to_string(Backend backend)
{
    switch (backend) {
    case Backend::Cpu:
        return "cpu";
    case Backend::Cuda:
        return "cuda";
    case Backend::CudaEmulated:
        return "cuda-emulated";
    }
    return "cpu";
}

Plan RunDescription::priced_plan() const
{
    Plan priced = plan;
    if (on_gpu())
        priced.workload.dtype = priced.workload.kv_dtype = dtype;
    return priced;
}

RunDescription describe_run(Plan plan, const RunRequest& request)
{
    RunDescription run;
    run.backend = parse_backend(request.backend);
    run.dtype = run.on_gpu() ? parse_gpu_element_type(request.dtype) : DType::FP32;
    run.graphs = parse_on_off(request.graphs, "--graphs");
    run.overlap = parse_on_off(request.overlap, "--overlap");
    if (request.threads != "per-gpu" && request.threads != "one")
        throw Error("--threads must be per-gpu or one, not '" + request.threads + "'");
    run.thread_per_gpu = request.threads == "per-gpu";
    if (request.steps < -1 || request.steps > limits::kDecodeSteps.max)
        throw Error("--steps must be 0 to " + std::to_string(limits::kDecodeSteps.max) + ", not "
                    + std::to_string(request.steps));
    run.decode_steps = request.steps >= 0 ? request.steps : plan.workload.generate;
    run.seed = request.seed;
    run.weights = request.weights;
    run.plan = std::move(plan);
    return run;
}

OrderedJson run_description_to_json(const RunDescription& run)
{
    OrderedJson j;
    j["format"] = RunDescription::kFormatName;
    j["version"] = RunDescription::kFormatVersion;
    j["backend"] = to_string(run.backend);
    j["dtype"] = to_string(run.dtype);
    j["graphs"] = run.graphs;
    j["overlap"] = run.overlap;
    j["threads"] = run.thread_per_gpu ? "per-gpu" : "one";
    j["decode_steps"] = run.decode_steps;
    j["seed"] = run.seed;
    j["weights"] = run.weights;
    j["plan"] = plan_to_json(run.plan);
    return j;
}

RunDescription run_description_from_json(const Json& json, const std::string& source)
{
    const JsonReader r(json, source);
    const std::string format = r.string_or("format", "");
    if (format != RunDescription::kFormatName)
        throw Error(source + ": not a ShardStudio run description (field 'format' is \"" + format + "\", expected \""
                    + RunDescription::kFormatName + "\")");
    const auto version = r.integer("version", {1, std::numeric_limits<std::int64_t>::max()});
    if (version > RunDescription::kFormatVersion)
        throw Error(source + ": run description version " + std::to_string(version)
                    + " was written by a newer ShardStudio; this build reads up to version "
                    + std::to_string(RunDescription::kFormatVersion));
    RunDescription run;
    run.plan = plan_from_json(r.object("plan"), source + ": plan");
    run.backend = parse_backend(r.string("backend"));
    run.dtype = parse_dtype(r.string("dtype"));
    run.graphs = r.bool_or("graphs", true);
    run.overlap = r.bool_or("overlap", false);
    const std::string threads = r.string_or("threads", "per-gpu");
    if (threads != "per-gpu" && threads != "one")
        r.fail("threads", "must be per-gpu or one, not '" + threads + "'");
    run.thread_per_gpu = threads == "per-gpu";
    run.decode_steps = r.count("decode_steps", {0, limits::kDecodeSteps.max});
    const Json* seed = r.raw("seed");
    if (!seed || !seed->is_number_unsigned())
        r.fail("seed", "must be an unsigned integer");
    run.seed = seed->get<std::uint64_t>();
    run.weights = r.string_or("weights", "");
    return run;
}

RunDescription run_description_from_text(const std::string& text, const std::string& source)
{
    return run_description_from_json(parse_json_text(text, source), source);
}

} // namespace shard::run
