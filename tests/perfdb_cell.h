#pragma once

// One measured cell of a shipped kernel table, read straight from its CSV: what the tests
// compare the database's and the CLI's answers on measured points against.
#include "cost/curve_table.h"

#include "core/presets.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace shard::test {

// ms at `axis` of the row whose key columns are `keys` in resources/perfdb/<system>/<file>;
// NaN when the table has no such row, column or measurement.
inline double shipped_cell_ms(const std::string& system, const std::string& file, const std::vector<std::string>& keys,
                              double axis)
{
    const CurveTable table =
        read_curve_table(PresetLibrary::instance().data_dir() / "perfdb" / system / file, keys.size());
    const auto column = std::find(table.axis_values.begin(), table.axis_values.end(), axis);
    if (column == table.axis_values.end())
        return std::nan("");
    for (const auto& row : table.rows)
        if (row.keys == keys)
            return row.ms[std::size_t(column - table.axis_values.begin())];
    return std::nan("");
}

} // namespace shard::test
