#include "prediction_tables.h"

#include "calibration.h"
#include "profile_store.h"

#include "core/error.h"

#include <filesystem>
#include <map>
#include <mutex>

namespace shard {

std::string to_string(TableSource source)
{
    switch (source) {
    case TableSource::Auto:
        return "auto";
    case TableSource::Profile:
        return "profile";
    case TableSource::Shipped:
        return "shipped";
    case TableSource::Roofline:
        return "roofline";
    }
    return "auto";
}

TableSource parse_table_source(const std::string& text)
{
    for (const TableSource s : {TableSource::Auto, TableSource::Profile, TableSource::Shipped, TableSource::Roofline})
        if (text == to_string(s))
            return s;
    throw Error("the prediction tables are auto, profile, shipped or roofline, not '" + text + "'");
}

namespace {

std::optional<MachineProfile> newest_profile(const GpuKind& gpu, const std::string& store_path)
{
    std::error_code error;
    if (store_path.empty() || !std::filesystem::exists(store_path, error))
        return std::nullopt;
    try {
        RunStore store(store_path, SqliteDb::Mode::ReadOnly);
        return latest_profile(store, gpu.name);
    } catch (const Error&) {
        return std::nullopt; // a database this build cannot read has no profile to offer
    }
}

std::shared_ptr<const PerfDb> profile_tables(const GpuKind& gpu, const std::string& store_path,
                                             const MachineProfile& profile)
{
    static std::mutex mutex;
    static std::map<std::pair<std::string, std::int64_t>, std::shared_ptr<const PerfDb>> loaded;
    const std::lock_guard lock(mutex);
    auto& slot = loaded[{store_path, profile.id}];
    if (!slot)
        slot = std::make_shared<const PerfDb>(perf_db_with_profile(gpu, profile));
    return slot;
}

} // namespace

std::optional<MachineProfile> usable_profile(const GpuKind& gpu, const std::string& store_path)
{
    return newest_profile(gpu, store_path);
}

Efficiency prediction_efficiency(const GpuKind& gpu, const std::string& store_path, TableSource source)
{
    if (source == TableSource::Roofline) {
        Efficiency roofline;
        roofline.measured_tables = false;
        return roofline;
    }
    if (source != TableSource::Shipped) {
        if (const auto profile = newest_profile(gpu, store_path)) {
            Efficiency efficiency;
            efficiency.profile_tables = profile_tables(gpu, store_path, *profile);
            efficiency.profile_source =
                profile->measured() + " " + profile->label() + " (profile " + std::to_string(profile->id) + ")";
            return efficiency;
        }
        if (source == TableSource::Profile)
            throw Error("no profile of " + gpu.name + " GPUs in " + store_path
                        + ": measure one with shard-engine profile on this machine, or predict from the shipped "
                          "tables (--tables shipped)");
    }
    return calibrated_efficiency(gpu, store_path);
}

} // namespace shard
