// shard-engine-mpi: a plan across nodes, one process per GPU, started by mpirun:
//
//   mpirun -n 16 -H node1:8,node2:8 shard-engine-mpi run plan.shardplan.json --dtype bf16
//
// MPI only bootstraps and gathers: world rank 0 makes the NCCL unique id and broadcasts it,
// every process joins the NCCL world with it and runs its own rank of the mesh on its
// node's GPU (its rank among the processes of that node); before each step the processes
// agree whether to go on (a signal on any of them stops all); at the end each sends its part
// of the run to rank 0, which checks and reports the run exactly as shard-engine does. All
// traffic of the run itself is NCCL's.
#include "engine_commands.h"

#include "cuda/gpu_run_parts.h"

#include "run/run_report.h"

#include "core/error.h"
#include "shard/version.h"

#include <cuda_runtime_api.h>
#include <mpi.h>

#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using namespace shard;

struct World {
    int rank = 0;
    int size = 1;
    int local_rank = 0; // among the processes of this node
    bool root() const { return rank == 0; }
};

// Gathers every process's bytes at rank 0 (empty elsewhere).
std::vector<std::string> gather_strings(const World& world, const std::string& mine)
{
    int length = int(mine.size());
    std::vector<int> lengths(static_cast<std::size_t>(world.size));
    MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    std::vector<int> offsets(static_cast<std::size_t>(world.size), 0);
    int total = 0;
    for (int i = 0; i < world.size; ++i) {
        offsets[std::size_t(i)] = total;
        total += lengths[std::size_t(i)];
    }
    std::string all(world.root() ? std::size_t(total) : 0, '\0');
    MPI_Gatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
    std::vector<std::string> out;
    if (world.root())
        for (int i = 0; i < world.size; ++i)
            out.push_back(all.substr(std::size_t(offsets[std::size_t(i)]), std::size_t(lengths[std::size_t(i)])));
    return out;
}

cuda::NcclJoin broadcast_join(const World& world)
{
    cuda::NcclJoin join;
    join.world_size = world.size;
    join.ranks = {world.rank};
    if (world.root())
        join.id = cuda::nccl_unique_id();
    MPI_Bcast(join.id.data(), int(join.id.size()), MPI_BYTE, 0, MPI_COMM_WORLD);
    return join;
}

std::optional<cuda::GpuRunResult> run_part(const World& world, const Plan& plan, const run::ModelWeights& weights,
                                           const cuda::GpuRunOptions& options)
{
    const int ranks = plan.strategy.devices();
    if (world.size != ranks)
        throw Error("the plan has " + std::to_string(ranks) + " ranks (" + plan.strategy.label()
                    + "); start it with mpirun -n " + std::to_string(ranks) + ", not " + std::to_string(world.size));
    if (options.emulated)
        throw Error(
            "shard-engine-mpi runs real GPUs, one per process; emulate with shard-engine --backend cuda-emulated");
    cuda::GpuMeshScope scope;
    scope.ranks = {world.rank};
    scope.devices = {world.local_rank};
    scope.join = broadcast_join(world);
    const cuda::GpuRunPart part = cuda::run_gpu_part(plan, weights, options, &scope, [](int) {
        int stop = engine::cancel_requested() ? 1 : 0, any = 0;
        MPI_Allreduce(&stop, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
        return any == 0;
    });
    const auto parts = gather_strings(world, cuda::to_json(part).dump());
    if (!world.root())
        return std::nullopt;
    std::vector<cuda::GpuRunPart> all;
    for (const auto& text : parts)
        all.push_back(cuda::gpu_run_part_from_json(OrderedJson::parse(text)));
    return cuda::merge_gpu_parts(plan, std::move(all));
}

// `bootstrap`: whether the job is set up right, before any GPU work: every process reports
// its host, its rank on the node, the GPUs it sees and a digest of the NCCL id it got.
int bootstrap(const World& world)
{
    const cuda::NcclJoin join = broadcast_join(world);
    std::uint64_t digest = 1469598103934665603ULL; // FNV-1a
    for (const char c : join.id)
        digest = (digest ^ std::uint8_t(c)) * 1099511628211ULL;
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    int gpus = 0;
    if (cudaGetDeviceCount(&gpus) != cudaSuccess)
        gpus = 0;
    const OrderedJson mine{
        {"rank", world.rank}, {"host", host}, {"local_rank", world.local_rank}, {"gpus", gpus}, {"id_digest", digest}};
    const auto all = gather_strings(world, mine.dump());
    if (!world.root())
        return 0;
    OrderedJson processes = OrderedJson::array();
    bool same = true;
    for (const auto& text : all) {
        processes.push_back(OrderedJson::parse(text));
        same = same && processes.back()["id_digest"] == digest;
    }
    std::cout << run::to_line(
        run::OtherEvent{"bootstrap", {{"processes", world.size}, {"same_nccl_id", same}, {"ranks", processes}}})
              << std::endl;
    return same ? 0 : 1;
}

} // namespace

int main(int argc, char** argv)
{
    MPI_Init(&argc, &argv);
    World world;
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world.rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &world.local_rank);
    MPI_Comm_free(&node);

    CLI::App app{"shard-engine-mpi: run a ShardStudio plan across nodes, one process per GPU (start it with mpirun)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("shard-engine-mpi ") + kVersion);
    int exit_code = 0;
    engine::RunArgs args;
    args.processes = true;
    auto* run = app.add_subcommand("run", "Run a plan, this process's rank on its node's GPU; rank 0 reports");
    engine::add_run_options(run, args);
    run->callback([&] {
        engine::install_signal_handlers();
        exit_code = engine::run_plan_with(
            engine::describe(args),
            [&](const Plan& plan, const run::ModelWeights& weights, const cuda::GpuRunOptions& options) {
                return run_part(world, plan, weights, options);
            },
            world.root(), args.processes);
    });
    app.add_subcommand("bootstrap", "Check the job: hosts, GPUs per process and one NCCL id for all")->callback([&] {
        exit_code = bootstrap(world);
    });
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = world.root() ? app.exit(e) : (e.get_exit_code() == 0 ? 0 : 2);
        MPI_Finalize();
        return code;
    } catch (const std::exception& e) {
        // One process failing leaves the others waiting in NCCL or MPI calls: stop the job.
        if (world.root())
            std::cout << engine::error_line(e.what()) << std::endl;
        std::cerr << "shard-engine-mpi rank " << world.rank << ": " << e.what() << "\n";
        MPI_Abort(MPI_COMM_WORLD, 1);
        return 1;
    }
    MPI_Finalize();
    return exit_code;
}
