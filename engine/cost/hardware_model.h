#pragma once

#include "cost_types.h"

#include "core/dtype.h"
#include "core/topology.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace shard {

class PerfDb;

// Efficiencies that turn datasheet peaks into achievable rates. The defaults are fitted to
// cuBLAS bf16 GEMMs measured on one H100 SXM (resources/calibration/h100-sxm-gemm-bf16.csv):
// median error 3.5 %, 90th percentile 8 % over the shapes that stream their weights from HBM.
struct Efficiency {
    double gemm_compute = 0.80; // large GEMMs reach 740-880 of 989 TFLOP/s
    double hbm = 0.90; // weights stream at ~3.0 of 3.35 TB/s
    double gemm_overhead_us = 5.0; // launch, prologue and tail of one GEMM
    double elementwise_hbm = 0.70; // norms, activations, rotary: short kernels
    double elementwise_overhead_us = 2.0;
    double attention_compute = 0.55; // flash-attention share of peak in prefill
    double attention_hbm = 0.75; // KV-cache reads in decode
    int tile_m = 64; // GEMM output tile used for wave quantization
    int tile_n = 128;
    double blend = 6.0; // p-norm blending of compute-bound and memory-bound time
    // Where a GPU kind has shipped measured tables (resources/perfdb), they price GEMMs,
    // attention and collectives inside a node; the roofline above prices the rest. Off: the
    // roofline only.
    bool measured_tables = true;
    // Measured / predicted time per timed op group ("attention", "mlp") or collective kind
    // ("AllReduce") on this GPU kind, fitted from stored runs (store/calibration.h); every op
    // of that group is scaled by it. Empty: no correction.
    std::map<std::string, double> calibration;
    // A profile of this machine (machine_profile.h) the tables come from instead of the
    // shipped ones (it falls back to them for what it did not measure), and what it is in
    // words: "GEMMs (bfloat16) calibrated on this machine, 2026-12-03 (profile 3)".
    std::shared_ptr<const PerfDb> profile_tables;
    std::string profile_source;

    bool operator==(const Efficiency&) const = default;
};

// Roofline times for one GPU kind. Compute and memory time are blended with a p-norm
// rather than max() because cuBLAS loses a little in the transition between the two.

class HardwareModel {
public:
    // `tables`: measured tables of this GPU kind, or nullptr for the roofline only.
    explicit HardwareModel(const GpuKind& gpu, Efficiency efficiency = {}, const PerfDb* tables = nullptr);

    struct Priced {
        double us = 0;
        Provenance source = Provenance::Roofline;
    };
    // The measured tables where they have the GEMM's quantization, else the roofline.
    Priced gemm(std::int64_t m, std::int64_t k, std::int64_t n, DType dtype) const;
    // One collective call inside a node from the tables, or nullopt (no table for it).
    std::optional<Priced> collective_in_node(CollectiveKind kind, std::int64_t payload, int group,
                                             int element_bytes) const;
    // One layer's attention from the tables, or nullopt (no table for the shape).
    std::optional<Priced> attention(bool decode, DType kv_dtype, int head_dim, int heads, int kv_heads,
                                    std::int64_t batch, std::int64_t tokens) const;
    const PerfDb* tables() const { return m_tables; }

    // Y[m,n] = X[m,k] W[k,n] with e-byte elements (fp32 runs without TF32, at peak/15).
    double gemm_us(std::int64_t m, std::int64_t k, std::int64_t n, DType dtype) const;
    double elementwise_us(double bytes) const;
    double attention_us(double flops, double bytes, DType dtype) const;
    double peak_flops(DType dtype) const; // FLOP/s
    const Efficiency& efficiency() const { return m_eff; }
    const GpuKind& gpu() const { return m_gpu; }

private:
    GpuKind m_gpu;
    Efficiency m_eff;
    const PerfDb* m_tables = nullptr;
};

// NCCL's alpha-beta form: latency + payload / algbw, with algbw = busbw / bus factor.
double collective_time_us(double payload_bytes, double bus_factor, double busbw_gbps, double latency_us);

} // namespace shard
