#include "workload_options.h"

#include "commands.h"

#include "store/prediction_tables.h"
#include "store/run_store.h"

namespace shard::cli {

Workload WorkloadArgs::workload() const
{
    Workload w;
    w.batch = batch;
    w.prompt = prompt;
    w.generate = generate;
    w.dtype = parse_dtype(dtype);
    w.kv_dtype = kv_dtype.empty() ? w.dtype : parse_dtype(kv_dtype);
    w.phase = parse_phase(phase);
    w.objective = parse_objective(objective);
    w.validate();
    return w;
}

Efficiency planner_efficiency(const GpuKind& gpu, const std::string& tables)
{
    return prediction_efficiency(gpu, RunStore::default_path(), parse_table_source(tables));
}

CLI::Option* add_tables_option(CLI::App& command, std::string& tables)
{
    return command
        .add_option("--tables", tables,
                    "Kernel times from: auto (this machine's profile if stored, else shipped), profile, shipped "
                    "(measured tables, corrected by stored runs) or roofline")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "profile", "shipped", "roofline"}));
}

std::vector<CLI::Option*> add_workload_options(CLI::App& command, WorkloadArgs& args)
{
    add_tables_option(command, args.tables);
    return {
        command.add_option("--model,-m", args.model, "Preset id, model JSON or Hugging Face config.json")
            ->capture_default_str(),
        command.add_option("--topology,-t", args.topology, "Topology preset id or JSON")->capture_default_str(),
        command.add_option("--batch,-b", args.batch, "Concurrent sequences")
            ->capture_default_str()
            ->check(in_range(limits::kBatch)),
        command.add_option("--prompt,-p", args.prompt, "Prompt tokens per sequence")
            ->capture_default_str()
            ->check(in_range(limits::kPrompt)),
        command.add_option("--gen,-g", args.generate, "Generated tokens per sequence")
            ->capture_default_str()
            ->check(in_range(limits::kGenerate)),
        command.add_option("--dtype", args.dtype, "Weights and activations: bf16, fp16, fp8, fp32")
            ->capture_default_str(),
        command.add_option("--kv-dtype", args.kv_dtype, "KV cache dtype (default: --dtype)"),
        command.add_option("--phase", args.phase, "prefill, decode or both")->capture_default_str(),
        command.add_option("--objective", args.objective, "ttft, tpot, throughput or memory")->capture_default_str(),
    };
}

} // namespace shard::cli
