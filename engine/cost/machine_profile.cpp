#include "machine_profile.h"

#include "perf_tables.h"

#include "core/resources.h"

#include <set>

namespace shard {

namespace {

std::string joined(const std::set<std::string>& items)
{
    std::string text;
    for (const auto& item : items)
        text += (text.empty() ? "" : ", ") + item;
    return text;
}

} // namespace

std::string MachineProfile::label() const
{
    return "calibrated on this machine, " + created_at.substr(0, 10);
}

std::string MachineProfile::measured() const
{
    const PerfTables parsed = parse_perf_tables(tables, "profile " + std::to_string(id));
    std::vector<std::string> parts;
    if (const auto it = parsed.find("gemm"); it != parsed.end() && !it->second.rows.empty()) {
        std::set<std::string> modes;
        for (const auto& row : it->second.rows)
            modes.insert(row.keys[0]);
        parts.push_back("GEMMs (" + joined(modes) + ")");
    }
    std::set<std::string> phases;
    for (const auto& [family, phase] :
         {std::pair{"attention_context", "prefill"}, std::pair{"attention_generation", "decode"}})
        if (const auto it = parsed.find(family); it != parsed.end() && !it->second.rows.empty())
            phases.insert(phase);
    if (!phases.empty())
        parts.push_back("attention (" + joined(phases) + ")");
    if (const auto it = parsed.find("nccl"); it != parsed.end() && !it->second.rows.empty()) {
        std::set<std::string> ops;
        int low = 0, high = 0;
        for (const auto& row : it->second.rows) {
            ops.insert(row.keys[0]);
            const int gpus = int(it->second.integer_key(row, 2));
            low = low == 0 ? gpus : std::min(low, gpus);
            high = std::max(high, gpus);
        }
        parts.push_back("NCCL (" + joined(ops) + " on " + std::to_string(low)
                        + (high > low ? "-" + std::to_string(high) : "") + " GPUs)");
    }
    std::string text;
    for (const auto& part : parts)
        text += (text.empty() ? "" : ", ") + part;
    return text.empty() ? "nothing" : text;
}

PerfDb perf_db_with_profile(const GpuKind& gpu, const MachineProfile& profile)
{
    PerfTables base;
    if (const auto system = PerfDb::system_for(gpu))
        base = read_perf_tables(data_directory() / "perfdb" / *system);
    return PerfDb::from_tables(
        gpu, overlay_perf_tables(std::move(base),
                                 parse_perf_tables(profile.tables, "profile " + std::to_string(profile.id))));
}

} // namespace shard
