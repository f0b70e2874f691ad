// Every kernel launcher of engine/cuda/kernels.h on the same seeded inputs, its outputs
// returned as fp32. Built twice into tst_kernel_conformance: once as it reads (the kernels
// of engine/cuda/*.cu on the host model's fibers) and once with the token `kernels` defined
// as `host_loops` (the host loops of engine/cuda/host_model, built into that namespace for
// the test), so the test holds both sets of outputs and compares them.
#include "kernel_conformance_cases.h"

#include "cuda/kernels.h"

#include <cuda_runtime_api.h>

#include <cstring>
#include <random>
#include <stdexcept>
#include <string>

namespace shard::cuda::kernels {

namespace {

constexpr int kRows = 5;
constexpr int kHidden = 64;
constexpr int kHeads = 4;
constexpr int kKvHeads = 2;
constexpr int kHeadDim = 16;
constexpr int kSeqs = 2;
constexpr int kSteps = 3; // T: rows per sequence
constexpr int kMaxContext = 80; // two context splits of the decode attention
constexpr int kPosition = 70;
constexpr int kExperts = 6;
constexpr int kTopK = 2;
constexpr int kRanks = 3;

void check(cudaError_t status, const char* what)
{
    if (status != cudaSuccess)
        throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

// Device buffers of the host model: host memory, read back through cudaMemcpy.
class Buffers {
public:
    explicit Buffers(GpuDType type)
        : m_type(type)
    { }
    Buffers(const Buffers&) = delete;
    Buffers& operator=(const Buffers&) = delete;
    ~Buffers()
    {
        for (void* p : m_owned)
            cudaFree(p);
    }

    void* raw(std::size_t bytes)
    {
        void* p = nullptr;
        check(cudaMalloc(&p, bytes), "cudaMalloc");
        std::memset(p, 0, bytes);
        m_owned.push_back(p);
        return p;
    }
    // n elements of the case's type holding `values` (zeros where values is shorter).
    void* typed(const std::vector<float>& values, std::size_t n)
    {
        void* p = raw(n * element_size(m_type));
        std::vector<float> padded(values);
        padded.resize(n, 0.0f);
        convert_from_f32(m_type, p, f32(padded), std::int64_t(n), nullptr);
        return p;
    }
    float* f32(const std::vector<float>& values)
    {
        auto* p = static_cast<float*>(raw(values.size() * sizeof(float)));
        check(cudaMemcpy(p, values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
        return p;
    }
    int* ints(const std::vector<int>& values)
    {
        auto* p = static_cast<int*>(raw(values.size() * sizeof(int)));
        check(cudaMemcpy(p, values.data(), values.size() * sizeof(int), cudaMemcpyHostToDevice), "cudaMemcpy");
        return p;
    }
    std::vector<float> read(const void* typed_buffer, std::size_t n)
    {
        check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        float* staged = static_cast<float*>(raw(n * sizeof(float)));
        convert_to_f32(m_type, staged, typed_buffer, std::int64_t(n), nullptr);
        return read_f32(staged, n);
    }
    std::vector<float> read_f32(const float* p, std::size_t n)
    {
        check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        std::vector<float> out(n);
        check(cudaMemcpy(out.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
        return out;
    }
    std::vector<float> read_ints(const int* p, std::size_t n)
    {
        check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        std::vector<int> values(n);
        check(cudaMemcpy(values.data(), p, n * sizeof(int), cudaMemcpyDeviceToHost), "cudaMemcpy");
        return {values.begin(), values.end()};
    }

private:
    GpuDType m_type;
    std::vector<void*> m_owned;
};

std::vector<float> uniform(std::mt19937& rng, std::size_t n, float low = -1.0f, float high = 1.0f)
{
    std::uniform_real_distribution<float> value(low, high);
    std::vector<float> out(n);
    for (float& v : out)
        v = value(rng);
    return out;
}

void add_norm_cases(GpuDType type, std::mt19937& rng, conformance::Outputs& out)
{
    Buffers b(type);
    const std::size_t n = std::size_t(kRows) * kHidden;
    const std::vector<float> x = uniform(rng, n, -2.0f, 2.0f);
    const float* weight = b.f32(uniform(rng, kHidden, 0.5f, 1.5f));
    const float* bias = b.f32(uniform(rng, kHidden));
    const void* in = b.typed(x, n);
    for (const bool layer_norm : {false, true}) {
        void* y = b.typed({}, n);
        norm(type, y, in, weight, layer_norm ? bias : nullptr, layer_norm, kRows, kHidden, 1e-5f, nullptr);
        out.push_back({layer_norm ? "norm (LayerNorm)" : "norm (RMSNorm)", b.read(y, n), {}});

        float* stats = static_cast<float*>(b.raw(sizeof(float) * 2 * kRows));
        const int chunk = kHidden / 2;
        void* half = b.typed(std::vector<float>(x.begin(), x.begin() + std::ptrdiff_t(n / 2)), n / 2);
        row_stats(type, stats, half, kRows, chunk, layer_norm, nullptr);
        out.push_back({layer_norm ? "row_stats (LayerNorm)" : "row_stats (RMSNorm)",
                       b.read_f32(stats, layer_norm ? 2 * kRows : kRows),
                       {}});
        void* normed = b.typed({}, n / 2);
        chunk_norm(type, normed, half, stats, weight, layer_norm ? bias : nullptr, layer_norm, kRows, chunk, chunk,
                   1e-5, nullptr);
        out.push_back({layer_norm ? "chunk_norm (LayerNorm)" : "chunk_norm (RMSNorm)", b.read(normed, n / 2), {}});
    }
    // head_norm and rotary on the heads that start at column 16 of 96-wide rows.
    const std::int64_t ld = 96;
    const std::size_t wide = std::size_t(kRows) * std::size_t(ld);
    const std::vector<float> rows = uniform(rng, wide);
    void* heads = b.typed(rows, wide);
    head_norm(type, heads, ld, 16, kRows, kHeads, kHeadDim, b.f32(uniform(rng, kHeadDim, 0.5f, 1.5f)), 1e-6f, nullptr);
    out.push_back({"head_norm", b.read(heads, wide), {}});
    void* rotated = b.typed(rows, wide);
    rotary(type, rotated, ld, 16, kRows, kHeads, kHeadDim, kSteps, b.ints({kPosition}), nullptr);
    out.push_back({"rotary", b.read(rotated, wide), {}});
}

void add_elementwise_cases(GpuDType type, std::mt19937& rng, conformance::Outputs& out)
{
    Buffers b(type);
    const std::size_t n = std::size_t(kRows) * kHidden;
    const std::vector<float> x = uniform(rng, n, -3.0f, 3.0f);
    const std::vector<float> y = uniform(rng, n);
    const std::vector<float> table = uniform(rng, std::size_t(kMaxContext) * kHidden);

    void* embedded = b.typed({}, n);
    embed(type, embedded, b.typed(table, table.size()), b.ints({3, 40, 12, 41, 7}), kRows, kHidden, 10, 30, nullptr);
    out.push_back({"embed", b.read(embedded, n), {}});
    void* positioned = b.typed(x, n);
    add_positions(type, positioned, b.typed(table, table.size()), kRows, kHidden, 1, kSteps, b.ints({kPosition}),
                  nullptr);
    out.push_back({"add_positions", b.read(positioned, n), {}});
    void* biased = b.typed(x, n);
    add_bias(type, biased, b.f32(uniform(rng, kHidden)), kRows, kHidden, nullptr);
    out.push_back({"add_bias", b.read(biased, n), {}});
    void* summed = b.typed(x, n);
    add(type, summed, b.typed(y, n), std::int64_t(n), nullptr);
    out.push_back({"add", b.read(summed, n), {}});

    const char* names[] = {"SiLU", "GELU", "GELUTanh", "ReLU"};
    for (const Act act : {Act::SiLU, Act::GELU, Act::GELUTanh, Act::ReLU}) {
        void* activated = b.typed(x, n);
        activate(type, activated, std::int64_t(n), act, nullptr);
        out.push_back({std::string("activate ") + names[int(act)], b.read(activated, n), {}});
        void* gated_out = b.typed({}, n / 2);
        gated(type, gated_out, b.typed(x, n), kRows, kHidden / 2, act, nullptr);
        out.push_back({std::string("gated ") + names[int(act)], b.read(gated_out, n / 2), {}});
    }
    void* last = b.typed({}, std::size_t(kSeqs) * kHidden);
    last_rows(type, last, b.typed(x, n), kSeqs, 2, kHidden, nullptr);
    out.push_back({"last_rows", b.read(last, std::size_t(kSeqs) * kHidden), {}});
    void* scaled = b.typed(x, n);
    scale_rows_by_sigmoid(type, scaled, b.f32(uniform(rng, kRows, -4.0f, 4.0f)), kRows, kHidden, nullptr);
    out.push_back({"scale_rows_by_sigmoid", b.read(scaled, n), {}});
}

void add_attention_cases(GpuDType type, std::mt19937& rng, conformance::Outputs& out)
{
    Buffers b(type);
    const std::int64_t q_ld = std::int64_t(kHeads + 2 * kKvHeads) * kHeadDim; // fused q | k | v rows
    const std::size_t rows = std::size_t(kSeqs) * kSteps;
    const std::size_t cache = std::size_t(kSeqs) * kMaxContext * kKvHeads * kHeadDim;
    const std::vector<float> qkv = uniform(rng, rows * std::size_t(q_ld));
    const void* q = b.typed(qkv, qkv.size());
    void* k_cache = b.typed(uniform(rng, cache), cache);
    void* v_cache = b.typed(uniform(rng, cache), cache);
    const int* pos = b.ints({kPosition});
    write_cache(type, k_cache, q, q_ld, kHeads * kHeadDim, kSeqs, kSteps, kKvHeads, kHeadDim, kMaxContext, pos,
                nullptr);
    write_cache(type, v_cache, q, q_ld, (kHeads + kKvHeads) * kHeadDim, kSeqs, kSteps, kKvHeads, kHeadDim, kMaxContext,
                pos, nullptr);
    out.push_back({"write_cache", b.read(k_cache, cache), {}});

    const std::size_t width = std::size_t(kHeads) * kHeadDim;
    void* attended = b.typed({}, rows * width);
    auto* partials = static_cast<float*>(
        b.raw(sizeof(float) * rows * kHeads * std::size_t(attention_splits(kMaxContext)) * (kHeadDim + 2)));
    attention(type, q, q_ld, k_cache, v_cache, attended, partials, kSeqs, kSteps, kHeads, kKvHeads, kHeadDim,
              kMaxContext, pos, nullptr);
    out.push_back({"attention", b.read(attended, rows * width), {}});

    const int ctx = 12;
    const int pos0 = 8;
    void* probs = b.typed({}, std::size_t(kHeads) * kSteps * ctx);
    causal_softmax(type, probs, b.f32(uniform(rng, std::size_t(kHeads) * kSteps * ctx, -4.0f, 4.0f)), kHeads, kSteps,
                   ctx, pos0, nullptr);
    out.push_back({"causal_softmax", b.read(probs, std::size_t(kHeads) * kSteps * ctx), {}});

    const std::int64_t vocab = 50;
    const std::int64_t cols = 20;
    std::vector<float> logits = uniform(rng, std::size_t(kRows * cols));
    logits[3] = logits[7] = 5.0f; // a tie: the lower index wins
    auto* pairs = static_cast<float*>(b.raw(sizeof(float) * 2 * kRows));
    argmax_rows(type, pairs, b.typed(logits, logits.size()), kRows, cols, 40, vocab, nullptr); // 10 columns valid
    out.push_back({"argmax_rows", b.read_f32(pairs, 2 * kRows), {}});
    std::vector<float> gathered;
    for (int part = 0; part < kRanks; ++part)
        for (int row = 0; row < kRows; ++row) {
            gathered.push_back(float((row + part) % 3)); // ties across parts: the lower part wins
            gathered.push_back(float(part * 100 + row));
        }
    int* tokens = b.ints(std::vector<int>(kRows, -1));
    argmax_pairs(tokens, b.f32(gathered), kRanks, kRows, nullptr);
    out.push_back({"argmax_pairs", b.read_ints(tokens, kRows), true});
}

void add_moe_cases(GpuDType type, std::mt19937& rng, conformance::Outputs& out)
{
    Buffers b(type);
    std::vector<float> router = uniform(rng, std::size_t(kRows) * kExperts, -2.0f, 2.0f);
    router[1] = router[4] = 3.0f; // a tie in row 0: the lower expert first
    const int slots = kRows * kTopK;
    int* experts = b.ints(std::vector<int>(std::size_t(slots), -1));
    float* weights = b.f32(std::vector<float>(std::size_t(slots), 0.0f));
    route_top_k(b.f32(router), kRows, kExperts, kTopK, experts, weights, nullptr);
    out.push_back({"route_top_k experts", b.read_ints(experts, std::size_t(slots)), true});
    out.push_back({"route_top_k weights", b.read_f32(weights, std::size_t(slots)), {}});

    int* counts = b.ints(std::vector<int>(kExperts, -1));
    int* offsets = b.ints(std::vector<int>(kExperts + 1, -1));
    int* order = b.ints(std::vector<int>(std::size_t(slots), -1));
    int* position = b.ints(std::vector<int>(std::size_t(slots), -1));
    group_by_expert(experts, slots, kExperts, counts, offsets, order, position, nullptr);
    out.push_back({"group_by_expert counts", b.read_ints(counts, kExperts), true});
    out.push_back({"group_by_expert offsets", b.read_ints(offsets, kExperts + 1), true});
    out.push_back({"group_by_expert order", b.read_ints(order, std::size_t(slots)), true});
    out.push_back({"group_by_expert position", b.read_ints(position, std::size_t(slots)), true});

    const std::vector<float> x = uniform(rng, std::size_t(kRows) * kHidden);
    void* permuted = b.typed({}, std::size_t(slots) * kHidden);
    permute_rows(type, permuted, b.typed(x, x.size()), kHidden, order, slots, kTopK, nullptr);
    out.push_back({"permute_rows", b.read(permuted, std::size_t(slots) * kHidden), {}});
    const std::vector<float> y = uniform(rng, std::size_t(slots) * kHidden);
    void* combined = b.typed({}, x.size());
    unpermute_rows(type, combined, b.typed(y, y.size()), kHidden, position, experts, weights, kRows, kTopK, 1, 5,
                   nullptr);
    out.push_back({"unpermute_rows", b.read(combined, x.size()), {}});
}

void add_collective_cases(GpuDType type, std::mt19937& rng, conformance::Outputs& out)
{
    Buffers b(type);
    const std::int64_t count = 24;
    const std::size_t whole = std::size_t(kRanks * count);
    Pointers ins{};
    Pointers outs{};
    auto fill = [&](std::size_t in_size, std::size_t out_size) {
        for (int r = 0; r < kRanks; ++r) {
            ins.p[r] = b.typed(uniform(rng, in_size), in_size);
            outs.p[r] = out_size > 0 ? b.typed({}, out_size) : nullptr;
        }
    };
    auto read_all = [&](const Pointers& bufs, std::size_t size) {
        std::vector<float> all;
        for (int r = 0; r < kRanks; ++r) {
            const std::vector<float> part = b.read(bufs.p[r], size);
            all.insert(all.end(), part.begin(), part.end());
        }
        return all;
    };
    fill(std::size_t(count), 0);
    sum_all(type, ins, kRanks, count, nullptr);
    out.push_back({"sum_all", read_all(ins, std::size_t(count)), {}});
    fill(std::size_t(count), whole);
    gather_all(type, outs, ins, kRanks, count, nullptr);
    out.push_back({"gather_all", read_all(outs, whole), {}});
    fill(whole, std::size_t(count));
    reduce_scatter_all(type, outs, ins, kRanks, count, nullptr);
    out.push_back({"reduce_scatter_all", read_all(outs, std::size_t(count)), {}});
    fill(whole, whole);
    all_to_all(type, outs, ins, kRanks, count, nullptr);
    out.push_back({"all_to_all", read_all(outs, whole), {}});
}

} // namespace

conformance::Outputs conformance_outputs(GpuDType type, unsigned seed)
{
    check(cudaSetDevice(0), "cudaSetDevice");
    std::mt19937 rng(seed);
    conformance::Outputs out;
    add_norm_cases(type, rng, out);
    add_elementwise_cases(type, rng, out);
    add_attention_cases(type, rng, out);
    add_moe_cases(type, rng, out);
    add_collective_cases(type, rng, out);
    return out;
}

} // namespace shard::cuda::kernels
