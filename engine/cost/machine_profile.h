#pragma once

#include "perf_db.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace shard {

// What `shard-engine profile` measured on one machine's GPUs with the bundled engine: tables
// in the layout of the shipped ones (resources/perfdb; attention rows with kernel_source
// "shard_engine"), and where and with what they were measured.
struct MachineProfile {
    std::int64_t id = 0; // in the run store; 0 before it is stored
    std::string created_at; // ISO 8601, UTC
    std::string gpu_kind; // the catalog's name of the GPUs ("H200 SXM 141GB"); empty: unknown kind
    std::string gpu_name; // as the driver names them
    int devices = 0;
    std::string driver, cuda, nccl, engine_version;
    bool quick = false;
    // Measured on the host model of CUDA (tests, machines without a GPU): the flow and the
    // schema are real, the times are not, so no prediction ever uses them.
    bool host_model = false;
    std::map<std::string, std::string> tables; // family (perf_tables.h) -> CSV text
    std::vector<std::string> notes; // what it did not measure, and why

    // "calibrated on this machine, 2026-12-03"
    std::string label() const;
    // The families it measured, in words: "GEMMs (bfloat16, float16), attention (prefill,
    // decode), NCCL (all_reduce, all_gather on 2-8 GPUs)".
    std::string measured() const;
};

// The tables the planner prices `gpu` from with this profile: the shipped tables of that
// kind (if any) with every family the profile measured replaced by its rows. A malformed
// stored table is an error naming the profile and the family.
PerfDb perf_db_with_profile(const GpuKind& gpu, const MachineProfile& profile);

} // namespace shard
