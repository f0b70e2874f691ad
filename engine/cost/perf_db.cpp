#include "perf_db.h"

#include "core/gpu_catalog.h"
#include "core/resources.h"
#include "perf_tables.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <mutex>

namespace shard {

namespace {

// The GPU kinds with shipped tables: the catalog's name, the tables' folder.
const std::pair<const char*, const char*> kSystems[] = {
    {"H100 SXM 80GB", "h100_sxm"}, {"H200 SXM 141GB", "h200_sxm"},
    {"B200", "b200_sxm"},          {"GB200", "gb200"},
    {"A100 SXM 80GB", "a100_sxm"}, {"L40S", "l40s"},
};

// AIConfigurator's speed-of-light terms per quantization mode: the MMA rate relative to bf16
// and the bytes per element of the weights and activations it streams.
struct QuantTerms {
    double rate = 1;
    double bytes = 2;
};

QuantTerms quant_terms(const std::string& quant)
{
    if (quant == "fp8" || quant == "fp8_block")
        return {2, 1};
    if (quant == "sq")
        return {2, 1};
    if (quant == "nvfp4")
        return {4, 9.0 / 16.0};
    if (quant == "int8_wo")
        return {1, 1};
    if (quant == "int4_wo")
        return {1, 0.5};
    if (quant == "float32") // CUDA cores, no TF32: the engine's fp32 runs
        return {1.0 / 15.0, 4};
    return {1, 2}; // bfloat16, float16
}

} // namespace

const char* nccl_table_op(CollectiveKind kind)
{
    switch (kind) {
    case CollectiveKind::AllReduce:
        return "all_reduce";
    case CollectiveKind::AllGather:
        return "all_gather";
    case CollectiveKind::ReduceScatter:
        return "reduce_scatter";
    case CollectiveKind::AllToAll:
        return "alltoall";
    case CollectiveKind::Broadcast:
    case CollectiveKind::SendRecv:
        break;
    }
    return nullptr;
}

namespace {

// Between two measured rows of a GEMM curve. With a wave width the time follows the number
// of row tiles (it steps where the kernel's does) when the two rows lie in different waves;
// with none, or inside one wave, it is linear in the rows.
double between_rows(double xa, double ya, double xb, double yb, double x, double wave)
{
    const double wa = wave > 0 ? std::ceil(xa / wave) : 0, wb = wave > 0 ? std::ceil(xb / wave) : 0;
    const double t = wa != wb ? (std::ceil(x / wave) - wa) / (wb - wa) : (x - xa) / (xb - xa);
    return ya + t * (yb - ya);
}

} // namespace

PerfDb::PerfDb(GpuKind gpu, CurveTable gemm, CurveTable nccl)
    : m_gpu(std::move(gpu))
{
    require_columns(gemm, "gemm");
    require_columns(nccl, "nccl");
    auto curve = [](const CurveTable& table, const CurveTable::Row& row) {
        Curve c;
        for (std::size_t i = 0; i < row.ms.size(); ++i)
            if (!std::isnan(row.ms[i])) {
                c.x.push_back(table.axis_values[i]);
                c.ms.push_back(row.ms[i]);
            }
        return c;
    };
    for (const auto& row : gemm.rows) {
        Curve c = curve(gemm, row);
        if (!c.x.empty())
            m_gemm[{row.keys[0], gemm.integer_key(row, 1), gemm.integer_key(row, 2)}] = std::move(c);
    }
    fit_waves();
    for (const auto& row : nccl.rows) {
        Curve c = curve(nccl, row);
        if (!c.x.empty())
            m_nccl[{row.keys[0], row.keys[1], int(nccl.integer_key(row, 2))}] = std::move(c);
    }
}

void PerfDb::fit_waves()
{
    // Which row-tile width each quantization mode's kernels step at differs (cuBLAS bf16 and
    // the fp8 block-scaled kernels do not share tiles): pick, per mode, the width that best
    // predicts each measured row from its two measured neighbours.
    const double widths[] = {0, 64, 128, 256};
    std::map<std::string, std::array<double, 4>> error;
    for (const auto& [key, curve] : m_gemm)
        for (std::size_t i = 1; i + 1 < curve.x.size(); ++i)
            for (std::size_t w = 0; w < 4; ++w) {
                const double predicted = between_rows(curve.x[i - 1], curve.ms[i - 1], curve.x[i + 1], curve.ms[i + 1],
                                                      curve.x[i], widths[w]);
                error[std::get<0>(key)][w] += std::abs(predicted - curve.ms[i]) / curve.ms[i];
            }
    for (const auto& [quant, sums] : error)
        m_wave[quant] = widths[std::size_t(std::min_element(sums.begin(), sums.end()) - sums.begin())];
}

std::optional<double> PerfDb::row_wave(const std::string& quant) const
{
    const auto it = m_wave.find(quant);
    return it == m_wave.end() ? std::nullopt : std::optional<double>(it->second);
}

std::optional<std::string> PerfDb::system_for(const GpuKind& gpu)
{
    std::string name = gpu.name;
    if (const auto entry = find_gpu_kind(gpu.name))
        name = entry->gpu.name;
    for (const auto& [catalog, dir] : kSystems)
        if (name == catalog)
            return std::string(dir);
    return std::nullopt;
}

PerfDb PerfDb::load(const std::filesystem::path& dir, const GpuKind& gpu)
{
    // A phase's table without the other's: the missing one is named.
    for (const auto& [prefill, decode] : {std::pair{"attention_context.csv", "attention_generation.csv"},
                                          std::pair{"mla_context.csv", "mla_generation.csv"}}) {
        const bool has_prefill = std::filesystem::exists(dir / prefill),
                   has_decode = std::filesystem::exists(dir / decode);
        if (has_prefill != has_decode)
            throw PerfTableError("cannot read the measured table " + (dir / (has_prefill ? decode : prefill)).string());
    }
    return from_tables(gpu, read_perf_tables(dir));
}

PerfDb PerfDb::from_tables(const GpuKind& gpu, const PerfTables& tables)
{
    auto table = [&](const char* family) -> const CurveTable* {
        const auto it = tables.find(family);
        return it == tables.end() ? nullptr : &it->second;
    };
    PerfDb db(gpu, table("gemm") ? *table("gemm") : empty_table("gemm"),
              table("nccl") ? *table("nccl") : empty_table("nccl"));
    auto pair = [&](const char* prefill, const char* decode, auto set) {
        if (!table(prefill) && !table(decode))
            return;
        (db.*set)(table(prefill) ? *table(prefill) : empty_table(prefill),
                  table(decode) ? *table(decode) : empty_table(decode));
    };
    pair("attention_context", "attention_generation", &PerfDb::set_attention);
    pair("mla_context", "mla_generation", &PerfDb::set_mla);
    if (table("moe"))
        db.set_moe(*table("moe"));
    return db;
}

void PerfDb::set_moe(const CurveTable& moe)
{
    m_moe.emplace(moe);
}

void PerfDb::set_mla(const CurveTable& prefill, const CurveTable& decode)
{
    m_mla_prefill.emplace(prefill, AttentionTable::Phase::Prefill, AttentionTable::Kernel::Mla);
    m_mla_decode.emplace(decode, AttentionTable::Phase::Decode, AttentionTable::Kernel::Mla);
}

std::optional<OpTime> PerfDb::moe(DType dtype, const MoeTable::Shape& shape, std::int64_t tokens) const
{
    if (!m_moe || dtype == DType::FP32)
        return std::nullopt;
    if (dtype != DType::FP8) {
        const auto t = m_moe->time("bfloat16", shape, tokens);
        return t ? std::optional<OpTime>(OpTime{t->us, t->source}) : std::nullopt;
    }
    if (const auto t = m_moe->time("fp8", shape, tokens))
        return OpTime{t->us, t->source};
    // The block-scaled kernel moves the same bytes at the same MMA rate: a neighbouring
    // measurement rather than this kernel's own.
    if (const auto t = m_moe->time("fp8_block", shape, tokens))
        return OpTime{t->us, least_trusted(Provenance::Interpolated, t->source)};
    return std::nullopt;
}

std::optional<OpTime> PerfDb::mla_attention(bool decode, DType kv_dtype, int heads, std::int64_t batch,
                                            std::int64_t tokens) const
{
    const auto& table = decode ? m_mla_decode : m_mla_prefill;
    if (!table || kv_dtype == DType::FP32)
        return std::nullopt;
    const auto t = table->mla_time(kv_dtype == DType::FP8 ? "fp8" : "bfloat16", heads, batch, tokens);
    return t ? std::optional<OpTime>(OpTime{t->us, t->source}) : std::nullopt;
}

void PerfDb::set_attention(const CurveTable& prefill, const CurveTable& decode)
{
    m_prefill.emplace(prefill, AttentionTable::Phase::Prefill);
    m_decode.emplace(decode, AttentionTable::Phase::Decode);
}

std::optional<OpTime> PerfDb::attention(bool decode, DType kv_dtype, int head_dim, int heads, int kv_heads,
                                        std::int64_t batch, std::int64_t tokens) const
{
    const auto& table = decode ? m_decode : m_prefill;
    if (!table || kv_dtype == DType::FP32)
        return std::nullopt;
    const std::string kv = kv_dtype == DType::FP8 ? "fp8" : "bfloat16";
    // Decode's compute label is always bf16 (the kernel follows the cache); fp8 prefill FMHA
    // runs only with an fp8 cache.
    const std::string compute = !decode && kv_dtype == DType::FP8 ? "fp8" : "bfloat16";
    const auto t = table->time(kv, compute, head_dim, heads, kv_heads, batch, tokens);
    return t ? std::optional<OpTime>(OpTime{t->us, t->source}) : std::nullopt;
}

const PerfDb* PerfDb::shipped(const GpuKind& gpu)
{
    static std::mutex mutex;
    static std::map<std::string, std::unique_ptr<const PerfDb>> loaded; // by tables' folder
    const auto system = system_for(gpu);
    if (!system)
        return nullptr;
    const std::lock_guard lock(mutex);
    auto& slot = loaded[*system];
    if (!slot) // a load that throws leaves the slot empty: the next call says why again
        slot = std::make_unique<const PerfDb>(load(data_directory() / "perfdb" / *system, gpu));
    return slot.get();
}

const PerfDb* tables_for(const GpuKind& gpu, const Efficiency& efficiency)
{
    if (!efficiency.measured_tables)
        return nullptr;
    return efficiency.profile_tables ? efficiency.profile_tables.get() : PerfDb::shipped(gpu);
}

std::string prediction_source(const GpuKind& gpu, const Efficiency& efficiency)
{
    std::string text;
    if (!efficiency.measured_tables)
        text = "every op from the roofline (measured tables switched off)";
    else if (efficiency.profile_tables)
        text = efficiency.profile_source + "; the rest from "
               + (PerfDb::system_for(gpu) ? "measured " + gpu.name + " tables (NVIDIA AIConfigurator) and " : "")
               + "the roofline";
    else if (!PerfDb::system_for(gpu))
        text = "every op from the roofline: no measured tables for " + gpu.name;
    else
        text = "GEMMs, attention, MoE layers and collectives inside a node from measured " + gpu.name
               + " tables (NVIDIA AIConfigurator), everything else from the roofline";
    if (!efficiency.calibration.empty()) {
        std::string kinds;
        for (const auto& [kind, scale] : efficiency.calibration)
            kinds += (kinds.empty() ? "" : ", ") + kind;
        text += "; " + kinds + " corrected by this GPU kind's stored runs (shardstudio-cli history calibration)";
    }
    return text;
}

std::vector<std::string> PerfDb::gemm_modes() const
{
    std::vector<std::string> modes;
    for (const auto& [key, curve] : m_gemm)
        if (modes.empty() || modes.back() != std::get<0>(key))
            modes.push_back(std::get<0>(key));
    return modes;
}

double PerfDb::gemm_speed_of_light_us(const std::string& quant, double m, double n, double k) const
{
    const QuantTerms q = quant_terms(quant);
    const double compute = 2.0 * m * n * k / (m_gpu.bf16_tflops * 1e12 * q.rate);
    const double memory = q.bytes * (m * n + m * k + n * k) / (m_gpu.hbm_gbps * 1e9);
    return std::max(compute, memory) * 1e6;
}

std::optional<PerfDb::Point> PerfDb::gemm_at_site(const std::string& quant, const Curve& curve, double m, double n,
                                                  double k) const
{
    const auto& x = curve.x;
    if (m < x.front() || m > x.back()) {
        // Hold the utilization of the nearest measured edge against the speed of light.
        const std::size_t edge = m < x.front() ? 0 : x.size() - 1;
        const double scale = gemm_speed_of_light_us(quant, m, n, k) / gemm_speed_of_light_us(quant, x[edge], n, k);
        return Point{curve.ms[edge] * scale, Provenance::Extrapolated};
    }
    const std::size_t b = std::size_t(std::lower_bound(x.begin(), x.end(), m) - x.begin());
    if (x[b] == m)
        return Point{curve.ms[b], Provenance::Measured};
    const std::size_t a = b - 1;
    const auto wave = m_wave.find(quant);
    return Point{between_rows(x[a], curve.ms[a], x[b], curve.ms[b], m, wave == m_wave.end() ? 0.0 : wave->second),
                 Provenance::Interpolated};
}

std::optional<OpTime> PerfDb::gemm(const std::string& quant, std::int64_t m, std::int64_t n, std::int64_t k) const
{
    if (m <= 0 || n <= 0 || k <= 0)
        return std::nullopt; // nothing to look up: the roofline's zero
    const double dm = double(m), dn = double(n), dk = double(k);
    // No floor at the HBM speed of light: the tables time repeated calls, so operands that fit
    // in L2 (the L40S's 96 MiB hold a 4096 x 2048 bf16 weight) run faster than HBM allows,
    // and the measurement, not the datasheet, is what the prediction follows.
    if (const auto it = m_gemm.find({quant, n, k}); it != m_gemm.end()) {
        const auto p = gemm_at_site(quant, it->second, dm, dn, dk);
        return OpTime{p->ms * 1000.0, p->source};
    }
    const double sol = gemm_speed_of_light_us(quant, dm, dn, dk);
    // An unmeasured shape: the utilization of up to four measured shapes within two octaves
    // in n and k, weighted by inverse squared distance in log2 space.
    struct Near {
        double distance;
        const Curve* curve;
        double n, k;
    };
    std::vector<Near> near;
    // Keys sort by (quant, n, k): walk only the shapes of this mode with n within two octaves.
    const auto first = m_gemm.lower_bound({quant, (n + 3) / 4, 0});
    for (auto it = first; it != m_gemm.end() && std::get<0>(it->first) == quant && std::get<1>(it->first) <= 4 * n;
         ++it) {
        const double sn = double(std::get<1>(it->first)), sk = double(std::get<2>(it->first));
        const double ln = std::log2(dn / sn), lk = std::log2(dk / sk);
        if (std::abs(ln) <= 2 && std::abs(lk) <= 2)
            near.push_back({std::hypot(ln, lk), &it->second, sn, sk});
    }
    if (near.empty())
        return std::nullopt;
    std::sort(near.begin(), near.end(), [](const Near& a, const Near& b) { return a.distance < b.distance; });
    near.resize(std::min<std::size_t>(near.size(), 4));
    double weights = 0, utilization = 0;
    Provenance source = Provenance::Interpolated;
    for (const Near& s : near) {
        const auto p = gemm_at_site(quant, *s.curve, dm, s.n, s.k);
        const double w = 1.0 / (s.distance * s.distance);
        utilization += w * gemm_speed_of_light_us(quant, dm, s.n, s.k) / (p->ms * 1000.0);
        weights += w;
        source = least_trusted(source, p->source);
    }
    return OpTime{sol / (utilization / weights), source};
}

std::optional<OpTime> PerfDb::gemm(DType dtype, std::int64_t m, std::int64_t n, std::int64_t k) const
{
    switch (dtype) {
    case DType::BF16:
        return gemm(std::string("bfloat16"), m, n, k);
    case DType::FP16:
        // A machine's profile measures fp16 on its own; the shipped tables price it as bf16
        // (the same tensor-core rate and bytes).
        if (const auto t = gemm(std::string("float16"), m, n, k))
            return t;
        return gemm(std::string("bfloat16"), m, n, k);
    case DType::FP8:
        return gemm(std::string("fp8"), m, n, k);
    case DType::FP32:
        return gemm(std::string("float32"), m, n, k); // only a machine's profile measures it
    }
    return std::nullopt;
}

std::optional<PerfDb::Point> PerfDb::nccl_at(const Curve& curve, double elements) const
{
    const auto& x = curve.x;
    if (elements < x.front()) // below the smallest message: the latency floor
        return Point{curve.ms.front(), Provenance::Extrapolated};
    if (elements > x.back()) // above the largest: its bandwidth
        return Point{curve.ms.back() * elements / x.back(), Provenance::Extrapolated};
    const std::size_t b = std::size_t(std::lower_bound(x.begin(), x.end(), elements) - x.begin());
    if (x[b] == elements)
        return Point{curve.ms[b], Provenance::Measured};
    const std::size_t a = b - 1;
    const double t = (elements - x[a]) / (x[b] - x[a]);
    return Point{curve.ms[a] + t * (curve.ms[b] - curve.ms[a]), Provenance::Interpolated};
}

std::optional<OpTime> PerfDb::collective(CollectiveKind kind, std::int64_t payload, int group_size,
                                         int element_bytes) const
{
    const char* op = nccl_table_op(kind);
    if (!op || group_size <= 1 || payload <= 0)
        return std::nullopt;
    const std::string dtype = element_bytes == 1 ? "int8" : "half";
    const double elements = double(payload) / (element_bytes == 1 ? 1.0 : 2.0);
    std::map<int, const Curve*> groups;
    for (const auto& [key, curve] : m_nccl)
        if (std::get<0>(key) == op && std::get<1>(key) == dtype)
            groups[std::get<2>(key)] = &curve;
    if (groups.empty())
        return std::nullopt;
    if (const auto it = groups.find(group_size); it != groups.end()) {
        const auto p = nccl_at(*it->second, elements);
        return OpTime{p->ms * 1000.0, p->source};
    }
    const auto above = groups.upper_bound(group_size);
    if (above == groups.end()) {
        // More ranks than measured: the largest group's time with the ring's (n-1)/n share.
        const int most = groups.rbegin()->first;
        const auto p = nccl_at(*groups.rbegin()->second, elements);
        const double n = group_size;
        return OpTime{p->ms * 1000.0 * ((n - 1) / n) * (double(most) / double(most - 1)), Provenance::Extrapolated};
    }
    if (above == groups.begin()) // fewer ranks than the smallest measured group (never 1)
        return std::nullopt;
    const auto below = std::prev(above);
    const auto lo = nccl_at(*below->second, elements), hi = nccl_at(*above->second, elements);
    const double t = double(group_size - below->first) / double(above->first - below->first);
    return OpTime{(lo->ms + t * (hi->ms - lo->ms)) * 1000.0,
                  least_trusted(Provenance::Interpolated, least_trusted(lo->source, hi->source))};
}

} // namespace shard
