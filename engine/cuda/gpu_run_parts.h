#pragma once

// A GPU run split over drivers: one host thread for every rank, a thread per GPU, or (with
// mpirun) a process per GPU. Each driver runs its ranks' part of the mesh and returns a
// GpuRunPart; merging the parts gives the run. Parts travel between processes as JSON.
#include "gpu_executor.h"
#include "gpu_mesh.h"

#include "core/json_util.h"

#include <functional>

namespace shard::cuda {

struct GpuRunPart {
    std::vector<run::StepOutput> steps; // per step, the plan's whole batch; only `outputs` filled in
    std::vector<GpuStepTime> times; // per step, as this driver measured it
    std::vector<int> outputs; // the replicas whose results this part carries
    std::vector<int> ranks; // the world ranks this driver ran
    std::vector<RankLog> logs; // theirs
    std::vector<int> stages; // theirs
    std::size_t weight_bytes = 0; // the most of any of its ranks
    std::size_t workspace_bytes = 0;
};

// Runs this driver's ranks (`scope`; null: every rank) through every step of the plan;
// go_on(s) says whether to start step s and must answer the same in every driver.
GpuRunPart run_gpu_part(const Plan& plan, const run::ModelWeights& weights, const GpuRunOptions& options,
                        const GpuMeshScope* scope, const std::function<bool(int)>& go_on);

// The run of every part: each replica's results from the part that carries them, each
// step's time from the slowest driver, every rank's log. Throws if a rank is missing.
GpuRunResult merge_gpu_parts(const Plan& plan, std::vector<GpuRunPart> parts);

// One host thread per GPU, each driving one rank (NCCL world joined by ncclCommInitRank
// with a shared unique id); before every step they meet at a barrier that decides once
// whether to go on.
GpuRunResult run_gpu_threads(const Plan& plan, const run::ModelWeights& weights, const GpuRunOptions& options);

OrderedJson to_json(const GpuRunPart& part);
GpuRunPart gpu_run_part_from_json(const OrderedJson& json);

} // namespace shard::cuda
