#include "hardware_model.h"

#include "perf_db.h"

#include <algorithm>
#include <cmath>

namespace shard {

HardwareModel::HardwareModel(const GpuKind& gpu, Efficiency efficiency, const PerfDb* tables)
    : m_gpu(gpu)
    , m_eff(efficiency)
    , m_tables(efficiency.measured_tables ? tables : nullptr)
{ }

HardwareModel::Priced HardwareModel::gemm(std::int64_t m, std::int64_t k, std::int64_t n, DType dtype) const
{
    if (m_tables)
        if (const auto t = m_tables->gemm(dtype, m, n, k))
            return {t->us, t->source};
    return {gemm_us(m, k, n, dtype), Provenance::Roofline};
}

std::optional<HardwareModel::Priced> HardwareModel::attention(bool decode, DType kv_dtype, int head_dim, int heads,
                                                              int kv_heads, std::int64_t batch,
                                                              std::int64_t tokens) const
{
    if (!m_tables)
        return std::nullopt;
    const auto t = m_tables->attention(decode, kv_dtype, head_dim, heads, kv_heads, batch, tokens);
    return t ? std::optional<Priced>(Priced{t->us, t->source}) : std::nullopt;
}

std::optional<HardwareModel::Priced> HardwareModel::collective_in_node(CollectiveKind kind, std::int64_t payload,
                                                                       int group, int element_bytes) const
{
    if (!m_tables)
        return std::nullopt;
    const auto t = m_tables->collective(kind, payload, group, element_bytes);
    return t ? std::optional<Priced>(Priced{t->us, t->source}) : std::nullopt;
}

double HardwareModel::peak_flops(DType dtype) const
{
    const double bf16 = m_gpu.bf16_tflops * 1e12;
    switch (dtype) {
    case DType::FP8:
        return 2.0 * bf16;
    case DType::BF16:
    case DType::FP16:
        return bf16;
    case DType::FP32:
        return bf16 / 15.0; // plain FP32 FMA rate, no TF32
    }
    return bf16;
}

double HardwareModel::gemm_us(std::int64_t m, std::int64_t k, std::int64_t n, DType dtype) const
{
    if (m <= 0 || k <= 0 || n <= 0)
        return 0;
    const int e = bytes_per_element(dtype);
    const double flops = 2.0 * double(m) * double(k) * double(n);
    const double bytes = double(m * k + k * n + m * n) * e;
    // Wave quantization: a GEMM with fewer output tiles than SMs leaves SMs idle.
    const double tiles = std::ceil(double(m) / m_eff.tile_m) * std::ceil(double(n) / m_eff.tile_n);
    const double waves = std::ceil(tiles / m_gpu.sm_count);
    const double occupancy = tiles / (waves * m_gpu.sm_count);
    const double compute_us = flops / (peak_flops(dtype) * m_eff.gemm_compute * std::sqrt(occupancy)) * 1e6;
    const double memory_us = m_eff.gemm_overhead_us + bytes / (m_gpu.hbm_gbps * 1e9 * m_eff.hbm) * 1e6;
    const double p = m_eff.blend;
    return std::pow(std::pow(compute_us, p) + std::pow(memory_us, p), 1.0 / p);
}

double HardwareModel::elementwise_us(double bytes) const
{
    if (bytes <= 0)
        return 0;
    return m_eff.elementwise_overhead_us + bytes / (m_gpu.hbm_gbps * 1e9 * m_eff.elementwise_hbm) * 1e6;
}

double HardwareModel::attention_us(double flops, double bytes, DType dtype) const
{
    if (flops <= 0 && bytes <= 0)
        return 0;
    const double compute_us = flops / (peak_flops(dtype) * m_eff.attention_compute) * 1e6;
    const double memory_us = m_eff.elementwise_overhead_us + bytes / (m_gpu.hbm_gbps * 1e9 * m_eff.attention_hbm) * 1e6;
    return std::max(compute_us, memory_us);
}

double collective_time_us(double payload_bytes, double bus_factor, double busbw_gbps, double latency_us)
{
    if (payload_bytes <= 0 || bus_factor <= 0)
        return 0;
    if (busbw_gbps <= 0)
        return 1e12; // no link: unusable, ranks far below anything feasible
    const double algbw = busbw_gbps * 1e9 / bus_factor; // bytes/s
    return latency_us + payload_bytes / algbw * 1e6;
}

} // namespace shard
