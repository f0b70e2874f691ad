#pragma once

#include "core/error.h"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace shard {

// A measured kernel table in the curve layout of resources/perfdb (NOTICE.md there): key
// columns, then one `<axis>=<value>` column per measured value of the curve axis, each cell
// the latency of one call in ms, an empty cell a point that was not measured.
struct CurveTable {
    struct Row {
        std::vector<std::string> keys;
        std::vector<double> ms; // by axis column; NaN where not measured
        int line = 0; // in the source, for messages
    };
    std::string source; // the file, as messages name it
    std::vector<std::string> key_names;
    std::string axis; // "m", "message_size"
    std::vector<double> axis_values; // strictly ascending
    std::vector<Row> rows;

    // A key column read as a non-negative integer, or an error naming the file, line and column.
    std::int64_t integer_key(const Row& row, std::size_t column) const;
};

class PerfTableError : public Error {
public:
    using Error::Error;
};

// Parses a table with `key_columns` key columns. Errors name the source, the line and the
// column: a missing header, a ragged row, a number that is not one (or not positive), a
// curve axis out of order.
CurveTable parse_curve_table(std::string_view text, const std::string& source, std::size_t key_columns);
CurveTable read_curve_table(const std::filesystem::path& file, std::size_t key_columns);
// The table in the layout parse_curve_table reads, times to 7 significant digits.
std::string to_csv(const CurveTable& table);
// `base` with the rows of `replacement` in place of every base row of the same family: the
// rows that agree in the key columns `family` names. Both have the same key columns; the
// curve axis becomes the union of both (cells neither measured stay empty).
CurveTable overlay_curve_table(const CurveTable& base, const CurveTable& replacement,
                               const std::vector<std::size_t>& family);

} // namespace shard
