#pragma once

#include "cost/hardware_model.h"
#include "cost/machine_profile.h"

#include <optional>
#include <string>

namespace shard {

// Where predictions for a GPU kind take their kernel times from.
enum class TableSource {
    Auto, // this machine's profile of that kind if the run database has one, else Shipped
    Profile, // this machine's newest profile of that kind (an error without one)
    Shipped, // the shipped measured tables, corrected by the stored runs (calibration.h)
    Roofline, // datasheet peaks and the fitted efficiencies only
};
std::string to_string(TableSource source); // "auto", "profile", "shipped", "roofline"
TableSource parse_table_source(const std::string& text); // throws Error naming the choices

// What predictions on `gpu` price with under `source`, from the run database at
// `store_path`. A profile's tables are used as measured: the stored runs' corrections were
// fitted against the shipped tables, so they are not applied on top of a profile. Without
// a readable database Auto and Shipped give the shipped tables uncorrected. A profile's
// tables are loaded once per process.
Efficiency prediction_efficiency(const GpuKind& gpu, const std::string& store_path,
                                 TableSource source = TableSource::Auto);

// The newest usable profile of `gpu` in the database, or nullopt; an unreadable database
// has none.
std::optional<MachineProfile> usable_profile(const GpuKind& gpu, const std::string& store_path);

} // namespace shard
