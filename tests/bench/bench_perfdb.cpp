// Held-out accuracy of the measured performance database: for each shipped GPU kind a seeded
// 20 % of the measured GEMM and NCCL points is removed, the database is built from the rest
// and asked for the removed points. The roofline (HardwareModel, the topology's link figures)
// is asked for the same points. Prints one Markdown row per GPU kind and op family.
//   bench_perfdb [seed]
#include "cost/attention_table.h"
#include "cost/collective.h"
#include "cost/hardware_model.h"
#include "cost/moe_table.h"
#include "cost/perf_db.h"

#include "core/gpu_catalog.h"
#include "core/resources.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace shard;

namespace {

// Kernels of a few microseconds are at the timer's and the L2 cache's mercy (the L40S bf16
// table drops from 5.9 to 3.5 us between neighbouring rows): errors are also given for the
// points of at least this many microseconds, the ones a step's time is made of.
constexpr double kLongUs = 10;

struct Errors {
    std::vector<double> table, table_long, roofline;
    int unanswered = 0; // points the tables left to the roofline
};

double percentile(std::vector<double> v, double p)
{
    if (v.empty())
        return NAN;
    std::sort(v.begin(), v.end());
    return v[std::size_t(std::lround(p * double(v.size() - 1)))];
}

struct HeldOut {
    std::size_t row, column;
    double ms;
};

// Removes a seeded 20 % of the measured cells; returns them.
std::vector<HeldOut> hold_out(CurveTable& table, std::mt19937& random)
{
    std::bernoulli_distribution pick(0.2);
    std::vector<HeldOut> out;
    for (std::size_t r = 0; r < table.rows.size(); ++r)
        for (std::size_t c = 0; c < table.rows[r].ms.size(); ++c)
            if (!std::isnan(table.rows[r].ms[c]) && pick(random)) {
                out.push_back({r, c, table.rows[r].ms[c]});
                table.rows[r].ms[c] = NAN;
            }
    return out;
}

std::optional<CollectiveKind> kind_of(const std::string& op)
{
    for (const auto kind : {CollectiveKind::AllReduce, CollectiveKind::AllGather, CollectiveKind::ReduceScatter,
                            CollectiveKind::AllToAll})
        if (op == nccl_table_op(kind))
            return kind;
    return std::nullopt;
}

std::string percent(double fraction)
{
    if (std::isnan(fraction))
        return "-";
    char text[32];
    std::snprintf(text, sizeof text, "%.1f %%", 100 * fraction);
    return text;
}

void report(const std::string& system, const std::string& family, const Errors& e)
{
    std::printf("| %s | %s | %zu | %s | %s | %zu | %s | %s | %s | %s | %d |\n", system.c_str(), family.c_str(),
                e.table.size(), percent(percentile(e.table, 0.5)).c_str(), percent(percentile(e.table, 0.9)).c_str(),
                e.table_long.size(), percent(percentile(e.table_long, 0.5)).c_str(),
                percent(percentile(e.table_long, 0.9)).c_str(), percent(percentile(e.roofline, 0.5)).c_str(),
                percent(percentile(e.roofline, 0.9)).c_str(), e.unanswered);
}

void add_error(Errors& e, std::optional<double> predicted_us, double truth_us)
{
    if (!predicted_us) {
        ++e.unanswered;
        return;
    }
    e.table.push_back(std::abs(*predicted_us - truth_us) / truth_us);
    if (truth_us >= kLongUs)
        e.table_long.push_back(e.table.back());
}

} // namespace

int main(int argc, char** argv)
{
    const unsigned seed = argc > 1 ? unsigned(std::stoul(argv[1])) : 20261203u;
    std::printf(
        "| GPU | op family | held-out points | median | p90 | points >= 10 us | median | p90 | roofline median | "
        "roofline p90 | left to the roofline |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const char* name : {"H100 SXM 80GB", "H200 SXM 141GB", "B200", "GB200", "A100 SXM 80GB", "L40S"}) {
        const GpuCatalogEntry entry = *find_gpu_kind(name);
        const std::string system = *PerfDb::system_for(entry.gpu);
        const auto dir = data_directory() / "perfdb" / system;
        CurveTable gemm = read_curve_table(dir / "gemm.csv", 3), nccl = read_curve_table(dir / "nccl.csv", 3);
        std::mt19937 random(seed);
        const auto gemm_out = hold_out(gemm, random);
        const auto nccl_out = hold_out(nccl, random);
        const PerfDb db(entry.gpu, gemm, nccl);
        const HardwareModel roofline(entry.gpu);
        std::map<std::string, Errors> gemm_errors;
        for (const HeldOut& h : gemm_out) {
            const auto& row = gemm.rows[h.row];
            const std::string quant = row.keys[0];
            const std::int64_t n = std::stoll(row.keys[1]), k = std::stoll(row.keys[2]);
            const auto m = std::int64_t(gemm.axis_values[h.column]);
            const double truth = h.ms * 1000.0;
            Errors& e = gemm_errors[quant];
            if (const auto t = db.gemm(quant, m, n, k)) {
                e.table.push_back(std::abs(t->us - truth) / truth);
                if (truth >= kLongUs)
                    e.table_long.push_back(e.table.back());
            } else
                ++e.unanswered;
            const std::optional<DType> dtype = quant == "bfloat16" ? std::optional(DType::BF16)
                                               : quant == "fp8"    ? std::optional(DType::FP8)
                                                                   : std::nullopt;
            if (dtype)
                e.roofline.push_back(std::abs(roofline.gemm_us(m, k, n, *dtype) - truth) / truth);
        }
        for (const auto& [quant, e] : gemm_errors)
            report(system, "GEMM " + quant, e);
        std::map<std::string, Errors> nccl_errors;
        for (const HeldOut& h : nccl_out) {
            const auto& row = nccl.rows[h.row];
            const auto kind = kind_of(row.keys[0]);
            const int element = row.keys[1] == "int8" ? 1 : 2;
            const int group = std::stoi(row.keys[2]);
            const auto payload = std::int64_t(nccl.axis_values[h.column]) * element;
            const double truth = h.ms * 1000.0;
            Errors& e = nccl_errors[row.keys[0]];
            if (const auto t = db.collective(*kind, payload, group, element)) {
                e.table.push_back(std::abs(t->us - truth) / truth);
                if (truth >= kLongUs)
                    e.table_long.push_back(e.table.back());
            } else {
                ++e.unanswered;
            }
            const Link& link = entry.typical_intra;
            e.roofline.push_back(
                std::abs(collective_time_us(double(payload), bus_factor(*kind, group), link.busbw_gbps, link.latency_us)
                         - truth)
                / truth);
        }
        Errors all;
        for (const auto& [op, e] : nccl_errors) {
            report(system, "NCCL " + op, e);
            all.table.insert(all.table.end(), e.table.begin(), e.table.end());
            all.table_long.insert(all.table_long.end(), e.table_long.begin(), e.table_long.end());
            all.roofline.insert(all.roofline.end(), e.roofline.begin(), e.roofline.end());
        }
        report(system, "NCCL, the four together", all);
        // Attention: full causal rows of the TRT-LLM backend, as the planner asks for them.
        for (const bool decode : {false, true}) {
            CurveTable table =
                read_curve_table(dir / (decode ? "attention_generation.csv" : "attention_context.csv"), 8);
            const auto out = hold_out(table, random);
            const AttentionTable attention(table,
                                           decode ? AttentionTable::Phase::Decode : AttentionTable::Phase::Prefill);
            Errors e;
            for (const HeldOut& h : out) {
                const auto& row = table.rows[h.row];
                if (row.keys[0] != "torch_flow" || row.keys[4] != "0")
                    continue;
                const double tokens = table.axis_values[h.column] + (decode ? 1 : 0);
                const double truth = h.ms * 1000.0;
                const auto t = attention.time(row.keys[2], row.keys[1], std::stoi(row.keys[3]), std::stoi(row.keys[5]),
                                              std::stoi(row.keys[6]), std::stoll(row.keys[7]), std::int64_t(tokens));
                if (!t) {
                    ++e.unanswered;
                    continue;
                }
                e.table.push_back(std::abs(t->us - truth) / truth);
                if (truth >= kLongUs)
                    e.table_long.push_back(e.table.back());
            }
            report(system, decode ? "attention, decode" : "attention, prefill", e);
        }
        // MLA: the latent kernel alone, by heads on the GPU and KV-cache dtype.
        for (const bool decode : {false, true}) {
            CurveTable table = read_curve_table(dir / (decode ? "mla_generation.csv" : "mla_context.csv"), 5);
            const auto out = hold_out(table, random);
            const AttentionTable mla(table, decode ? AttentionTable::Phase::Decode : AttentionTable::Phase::Prefill,
                                     AttentionTable::Kernel::Mla);
            Errors e;
            for (const HeldOut& h : out) {
                const auto& row = table.rows[h.row];
                const double tokens = table.axis_values[h.column] + (decode ? 1 : 0);
                const auto t =
                    mla.mla_time(row.keys[1], std::stoi(row.keys[2]), std::stoll(row.keys[4]), std::int64_t(tokens));
                add_error(e, t ? std::optional(t->us) : std::nullopt, h.ms * 1000.0);
            }
            report(system, decode ? "MLA, decode" : "MLA, prefill", e);
        }
        // The fused MoE layer, one family per quantization.
        CurveTable moe_table = read_curve_table(dir / "moe.csv", 9);
        const auto moe_out = hold_out(moe_table, random);
        const MoeTable moe(moe_table);
        std::map<std::string, Errors> moe_errors;
        for (const HeldOut& h : moe_out) {
            const auto& row = moe_table.rows[h.row];
            if (row.keys[0] == "moe_torch_flow_min_latency")
                continue;
            const MoeTable::Shape shape{std::stoll(row.keys[3]),
                                        std::stoll(row.keys[4]),
                                        std::stoi(row.keys[5]),
                                        std::stoi(row.keys[6]),
                                        std::stoi(row.keys[7]),
                                        std::stoi(row.keys[8]),
                                        row.keys[0] != "moe_torch_flow_nongated"};
            const auto t = moe.time(row.keys[1], shape, std::int64_t(moe_table.axis_values[h.column]));
            add_error(moe_errors[row.keys[1]], t ? std::optional(t->us) : std::nullopt, h.ms * 1000.0);
        }
        for (const auto& [quant, e] : moe_errors)
            report(system, "MoE " + quant, e);
    }
    return 0;
}
