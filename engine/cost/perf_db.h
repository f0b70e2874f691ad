#pragma once

#include "attention_table.h"
#include "collective.h"
#include "cost_types.h"
#include "curve_table.h"
#include "hardware_model.h"
#include "moe_table.h"

#include "core/dtype.h"
#include "core/topology.h"

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace shard {

struct OpTime {
    double us = 0;
    Provenance source = Provenance::Roofline;
};

// The measured GEMM, attention and NCCL tables of one GPU kind (resources/perfdb/<system>/),
// indexed for op queries. Inside a curve it interpolates between measured neighbours; GEMM
// rows are interpolated in row-tile waves of the width each mode's table steps at (fitted on
// load), so a time steps where the kernel's does instead of being smoothed across the step.
// Outside the measured range it holds the utilization of the table's edge against the
// roofline. A quantization, collective or group the tables do not cover answers nullopt, and
// the caller prices it by the roofline.
class PerfDb {
public:
    PerfDb(GpuKind gpu, CurveTable gemm, CurveTable nccl);
    // The attention tables are optional: without them attention is the roofline's.
    void set_attention(const CurveTable& prefill, const CurveTable& decode);
    // Optional too: the fused MoE layer and the MLA kernel, else the roofline's.
    void set_moe(const CurveTable& moe);
    void set_mla(const CurveTable& prefill, const CurveTable& decode);

    // The shipped tables' folder name for a GPU kind ("h100_sxm"), or nullopt.
    static std::optional<std::string> system_for(const GpuKind& gpu);
    // Loads <dir>/gemm.csv and <dir>/nccl.csv (and the attention, MoE and MLA tables where the
    // folder has them); a missing or malformed file is an error that names it (and the line).
    static PerfDb load(const std::filesystem::path& dir, const GpuKind& gpu);
    // From tables already read (perf_tables.h): gemm and nccl may be absent (nothing measured,
    // every query of theirs answers nullopt), an attention or MLA phase without the other too.
    static PerfDb from_tables(const GpuKind& gpu, const std::map<std::string, CurveTable>& tables);
    // The shipped tables of a GPU kind (data_directory()/perfdb), loaded once per process and
    // shared; nullptr for a kind without tables.
    static const PerfDb* shipped(const GpuKind& gpu);

    // Y[m,n] = X[m,k] W^T, per GPU shard. `quant` is the table's mode: "bfloat16", "fp8",
    // "float16", "float32" (a machine's profile only),
    // "fp8_block", "nvfp4", "int8_wo", "int4_wo", "sq".
    std::optional<OpTime> gemm(const std::string& quant, std::int64_t m, std::int64_t n, std::int64_t k) const;
    std::optional<OpTime> gemm(DType dtype, std::int64_t m, std::int64_t n, std::int64_t k) const;
    // One collective inside a node: `payload` is nccl-tests' size (collective.h), elements of
    // `element_bytes` (1: the int8 tables, else the fp16 ones).
    std::optional<OpTime> collective(CollectiveKind kind, std::int64_t payload, int group_size,
                                     int element_bytes) const;

    // Attention of one layer on one GPU: `heads` and `kv_heads` on the GPU, `tokens` the
    // context a decode token attends over or the prompt length of a prefill. `kv_dtype`
    // picks the table's KV-cache precision (fp8 or bf16); fp8 prefill computes in fp8.
    std::optional<OpTime> attention(bool decode, DType kv_dtype, int head_dim, int heads, int kv_heads,
                                    std::int64_t batch, std::int64_t tokens) const;

    // One rank's fused MoE layer (moe_table.h) in the table's mode for `dtype` (fp8 falls back
    // to the 128-block fp8 kernels where per-tensor fp8 was not measured).
    std::optional<OpTime> moe(DType dtype, const MoeTable::Shape& shape, std::int64_t tokens) const;
    // DeepSeek-V3's MLA kernel for `heads` query heads on the GPU (the caller checks the
    // model has that latent geometry).
    std::optional<OpTime> mla_attention(bool decode, DType kv_dtype, int heads, std::int64_t batch,
                                        std::int64_t tokens) const;

    const GpuKind& gpu() const { return m_gpu; }
    // The row-tile width a mode's GEMM times step at, fitted to its table (0: smooth in rows).
    std::optional<double> row_wave(const std::string& quant) const;
    std::vector<std::string> gemm_modes() const;
    // The roofline both tables are extrapolated against (us): datasheet peaks, no efficiency.
    double gemm_speed_of_light_us(const std::string& quant, double m, double n, double k) const;

private:
    struct Curve {
        std::vector<double> x, ms; // measured points only, ascending x
    };
    struct Point {
        double ms;
        Provenance source;
    };
    std::optional<Point> gemm_at_site(const std::string& quant, const Curve& curve, double m, double n, double k) const;
    std::optional<Point> nccl_at(const Curve& curve, double elements) const;
    void fit_waves();

    GpuKind m_gpu;
    std::map<std::tuple<std::string, std::int64_t, std::int64_t>, Curve> m_gemm; // (quant, n, k)
    std::map<std::tuple<std::string, std::string, int>, Curve> m_nccl; // (op, dtype, gpus)
    std::map<std::string, double> m_wave; // quant -> row-tile width of its steps
    std::optional<AttentionTable> m_prefill, m_decode;
    std::optional<AttentionTable> m_mla_prefill, m_mla_decode;
    std::optional<MoeTable> m_moe;
};

// The NCCL table's name of a collective ("all_reduce"), or nullptr for one it does not measure.
const char* nccl_table_op(CollectiveKind kind);

// The tables a prediction with `efficiency` prices `gpu` from: its profile's, else the
// shipped ones, nullptr for the roofline only.
const PerfDb* tables_for(const GpuKind& gpu, const Efficiency& efficiency);

// What a plan's numbers on this GPU kind are predicted from, in one sentence for users:
// "GEMMs, attention and collectives inside a node from measured H100 SXM 80GB tables (NVIDIA
// AIConfigurator), everything else from the roofline".
// With corrections from stored runs it says so.
std::string prediction_source(const GpuKind& gpu, const Efficiency& efficiency = {});

} // namespace shard
