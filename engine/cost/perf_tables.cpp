#include "perf_tables.h"

namespace shard {

const std::vector<TableFamily>& table_families()
{
    // Columns as NOTICE.md in resources/perfdb lists them.
    const std::vector<std::string> attention = {"kernel_source", "attn_dtype", "kv_cache_dtype",      "head_dim",
                                                "window_size",   "num_heads",  "num_key_value_heads", "batch_size"};
    const std::vector<std::string> mla = {"mla_dtype", "kv_cache_dtype", "num_heads", "tp_size", "batch_size"};
    static const std::vector<TableFamily> families = {
        {"gemm", {"gemm_dtype", "n", "k"}, "m", {0}, true},
        {"nccl", {"op_name", "nccl_dtype", "num_gpus"}, "message_size", {0, 1, 2}, true},
        {"attention_context", attention, "isl", {1, 2, 3, 4, 5, 6, 7}, false},
        {"attention_generation", attention, "step", {1, 2, 3, 4, 5, 6, 7}, false},
        {"moe",
         {"kernel_source", "moe_dtype", "distribution", "hidden_size", "inter_size", "topk", "num_experts",
          "moe_tp_size", "moe_ep_size"},
         "num_tokens",
         {1, 2, 3, 4, 5, 6, 7, 8},
         false},
        {"mla_context", mla, "isl", {0, 1, 2, 3, 4}, false},
        {"mla_generation", mla, "step", {0, 1, 2, 3, 4}, false},
    };
    return families;
}

const TableFamily& table_family(const std::string& name)
{
    for (const auto& family : table_families())
        if (name == family.name)
            return family;
    throw PerfTableError("'" + name + "' is not a measured table family");
}

void require_columns(const CurveTable& table, const std::string& family)
{
    const TableFamily& f = table_family(family);
    if (table.key_names == f.keys && table.axis == f.axis)
        return;
    std::string want;
    for (const auto& k : f.keys)
        want += k + ",";
    throw PerfTableError(table.source + " line 1: expected the columns " + want + f.axis + "=...");
}

PerfTables read_perf_tables(const std::filesystem::path& dir)
{
    PerfTables tables;
    for (const auto& family : table_families()) {
        const auto file = dir / (std::string(family.name) + ".csv");
        if (family.required || std::filesystem::exists(file))
            tables.emplace(family.name, read_curve_table(file, family.keys.size()));
    }
    return tables;
}

PerfTables parse_perf_tables(const std::map<std::string, std::string>& csv, const std::string& source)
{
    PerfTables tables;
    for (const auto& [name, text] : csv)
        tables.emplace(name, parse_curve_table(text, source + ": " + name, table_family(name).keys.size()));
    return tables;
}

PerfTables overlay_perf_tables(PerfTables base, const PerfTables& local)
{
    for (const auto& [name, table] : local) {
        const auto it = base.find(name);
        if (it == base.end())
            base.emplace(name, table);
        else
            it->second = overlay_curve_table(it->second, table, table_family(name).identity);
    }
    return base;
}

CurveTable empty_table(const std::string& family)
{
    const TableFamily& f = table_family(family);
    CurveTable table;
    table.source = family + " (not measured)";
    table.key_names = f.keys;
    table.axis = f.axis;
    return table;
}

} // namespace shard
