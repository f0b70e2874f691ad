// `op`: one kernel or collective priced the way the planner prices it, with its source.
#include "commands.h"
#include "workload_options.h"

#include "cost/device_mesh.h"
#include "cost/hardware_model.h"
#include "cost/perf_db.h"

#include "core/error.h"
#include "core/gpu_catalog.h"
#include "core/presets.h"
#include "core/units.h"

#include <iostream>
#include <map>
#include <memory>

namespace shard::cli {

namespace {

struct OpArgs {
    std::int64_t m = 0, k = 0, n = 0;
    std::string gpu = "h100-sxm";
    std::string dtype = "bf16";
    std::int64_t bytes = 0;
    int gpus = 8;
    std::string topology = PresetLibrary::kDefaultTopology;
    std::string tables = "auto";
};

std::string source_text(Provenance source, const GpuKind& gpu, const Efficiency& efficiency)
{
    if (!efficiency.measured_tables)
        return "roofline (measured tables switched off by --tables roofline)";
    switch (source) {
    case Provenance::Measured:
        return "measured (" + gpu.name + " table)";
    case Provenance::Interpolated:
        return "interpolated between measured points (" + gpu.name + " table)";
    case Provenance::Extrapolated:
        return "extrapolated past the measured range (" + gpu.name + " table, utilization held)";
    case Provenance::Roofline:
        break;
    }
    return "roofline (no measured table for this op on " + gpu.name + ")";
}

void print(const GlobalOptions& options, OrderedJson j, const std::string& what, double us, Provenance source,
           const GpuKind& gpu, const Efficiency& efficiency)
{
    if (options.json) {
        j["us"] = us;
        j["source"] = to_string(source);
        j["gpu"] = gpu.name;
        j["tables"] = prediction_source(gpu, efficiency);
        print_json(j);
        return;
    }
    std::cout << what << ": " << format_fixed(us, us < 10 ? 2 : 1) << " us predicted, "
              << source_text(source, gpu, efficiency) << "\n";
    if (efficiency.profile_tables)
        std::cout << "Tables: " << prediction_source(gpu, efficiency) << "\n";
}

void gemm(const OpArgs& a, const GlobalOptions& options)
{
    const auto entry = find_gpu_kind(a.gpu);
    if (!entry)
        throw Error("unknown GPU '" + a.gpu + "': name one of the catalog's (h100-sxm, h200, b200, a100, l40s...)");
    const DType dtype = parse_dtype(a.dtype);
    const Efficiency efficiency = planner_efficiency(entry->gpu, a.tables);
    const HardwareModel hardware(entry->gpu, efficiency, tables_for(entry->gpu, efficiency));
    const HardwareModel::Priced t = hardware.gemm(a.m, a.k, a.n, dtype);
    OrderedJson j;
    j["op"] = "gemm";
    j["m"] = a.m;
    j["k"] = a.k;
    j["n"] = a.n;
    j["dtype"] = to_string(dtype);
    print(options, j,
          "GEMM " + std::to_string(a.m) + " x " + std::to_string(a.k) + " x " + std::to_string(a.n) + " (m x k x n, "
              + to_string(dtype) + ") on one " + entry->gpu.name,
          t.us, t.source, entry->gpu, efficiency);
}

void collective(CollectiveKind kind, const OpArgs& a, const GlobalOptions& options)
{
    const Topology topology = PresetLibrary::instance().topology(a.topology);
    if (a.gpus > topology.total_gpus())
        throw Error("--gpus " + std::to_string(a.gpus) + " is more than the " + std::to_string(topology.total_gpus())
                    + " GPUs of " + topology.name);
    const int element = bytes_per_element(parse_dtype(a.dtype)) == 1 ? 1 : 2;
    // The group the planner would form: the first `gpus` GPUs, filling a node before the next.
    Strategy group;
    group.tensor_mode = TensorMode::Megatron1D;
    group.tensor_shape = {a.gpus};
    const GroupLink link = DeviceMesh(group, topology).group(a.gpus, 1);
    const Efficiency efficiency = planner_efficiency(topology.gpu, a.tables);
    const HardwareModel hardware(topology.gpu, efficiency, tables_for(topology.gpu, efficiency));
    const auto measured = link.cross_node ? std::nullopt : hardware.collective_in_node(kind, a.bytes, a.gpus, element);
    const double us =
        measured ? measured->us
                 : collective_time_us(double(a.bytes), bus_factor(kind, a.gpus), link.busbw_gbps, link.latency_us);
    OrderedJson j;
    j["op"] = to_string(kind);
    j["bytes"] = a.bytes;
    j["gpus"] = a.gpus;
    j["topology"] = topology.name;
    j["cross_node"] = link.cross_node;
    print(options, j,
          to_string(kind) + " of " + format_bytes(double(a.bytes)) + " over " + std::to_string(a.gpus) + " GPUs of "
              + topology.name + (link.cross_node ? " (across nodes: " + link.fabric + ")" : ""),
          us, measured ? measured->source : Provenance::Roofline, topology.gpu, efficiency);
}

} // namespace

void register_op_commands(CLI::App& app, const GlobalOptions& options)
{
    auto args = std::make_shared<OpArgs>();
    auto* op = app.add_subcommand("op", "One kernel or collective priced as the planner prices it, with its source");
    op->require_subcommand(1);
    auto* gemm_cmd = op->add_subcommand("gemm", "Y[m,n] = X[m,k] W[k,n] on one GPU");
    gemm_cmd->add_option("M", args->m, "Rows (tokens)")->required()->check(in_range(limits::kGemmDim));
    gemm_cmd->add_option("K", args->k, "Input features")->required()->check(in_range(limits::kGemmDim));
    gemm_cmd->add_option("N", args->n, "Output features")->required()->check(in_range(limits::kGemmDim));
    gemm_cmd->add_option("--gpu", args->gpu, "GPU kind (catalog name or driver name)")->capture_default_str();
    gemm_cmd->add_option("--dtype", args->dtype, "bf16, fp16, fp8 or fp32")->capture_default_str();
    add_tables_option(*gemm_cmd, args->tables);
    gemm_cmd->callback([&options, args] { gemm(*args, options); });
    const std::map<std::string, CollectiveKind> kinds = {
        {"allreduce", CollectiveKind::AllReduce},         {"allgather", CollectiveKind::AllGather},
        {"reducescatter", CollectiveKind::ReduceScatter}, {"alltoall", CollectiveKind::AllToAll},
        {"broadcast", CollectiveKind::Broadcast},         {"sendrecv", CollectiveKind::SendRecv}};
    for (const auto& [name, kind] : kinds) {
        auto* c = op->add_subcommand(name, "One " + to_string(kind) + " call (BYTES: nccl-tests' size)");
        c->add_option("BYTES", args->bytes, "Buffer size in bytes")
            ->required()
            ->check(in_range(limits::kCollectiveBytes));
        c->add_option("--gpus", args->gpus, "Ranks in the group")
            ->capture_default_str()
            ->check(in_range(limits::kGroupGpus));
        c->add_option("--topology,-t", args->topology, "Topology preset id or JSON")->capture_default_str();
        add_tables_option(*c, args->tables);
        c->add_option("--dtype", args->dtype, "Element type of the traffic (fp8 uses the int8 tables)")
            ->capture_default_str();
        c->callback([&options, args, kind = kind] { collective(kind, *args, options); });
    }
}

} // namespace shard::cli
