#pragma once

#include "curve_table.h"

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace shard {

// One family of measured tables (resources/perfdb/<system>/<name>.csv): its key columns and
// which of them say what a row measures, so a machine's profile replaces exactly the rows
// it measured again (a GEMM mode as a whole: its rows are interpolated together; a
// collective per group size; an attention kernel per shape).
struct TableFamily {
    const char* name; // "gemm", the file without .csv
    std::vector<std::string> keys; // the key columns, in order
    const char* axis; // the curve axis ("m")
    std::vector<std::size_t> identity; // the key columns a replacement matches on
    bool required; // every set of tables has it (an empty one where nothing was measured)
};
const std::vector<TableFamily>& table_families();
const TableFamily& table_family(const std::string& name); // throws for an unknown name
// Throws, naming the table's source, unless `table` has the columns of `family`.
void require_columns(const CurveTable& table, const std::string& family);

// The kernel_source of the attention rows a machine's profile measures: the bundled engine's.
inline constexpr const char* kEngineKernelSource = "shard_engine";

// The tables of one GPU kind by family name.
using PerfTables = std::map<std::string, CurveTable>;

// Every family file in `dir`; a required one missing, or any malformed, is an error that
// names the file (and the line).
PerfTables read_perf_tables(const std::filesystem::path& dir);
// Tables kept as CSV text (a stored profile): family name -> text; `source` prefixes the
// names messages give ("profile 3: gemm").
PerfTables parse_perf_tables(const std::map<std::string, std::string>& csv, const std::string& source);
// `base` with each family `local` has overlaid on it (overlay_curve_table).
PerfTables overlay_perf_tables(PerfTables base, const PerfTables& local);
// A table of `family` with its columns and no rows.
CurveTable empty_table(const std::string& family);

} // namespace shard
