#include "moe_kernel_check.h"

#include "device_resources.h"
#include "kernels.h"

#include "run/routing.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace shard::cuda {

namespace {

// Host values as the device stores them, and back (bf16 / fp16 round to nearest even).
std::vector<unsigned char> to_device_bytes(const std::vector<float>& v, GpuDType type)
{
    std::vector<unsigned char> out(v.size() * element_size(type));
    for (std::size_t i = 0; i < v.size(); ++i) {
        std::uint32_t bits;
        std::memcpy(&bits, &v[i], 4);
        if (type == GpuDType::F32) {
            std::memcpy(out.data() + 4 * i, &bits, 4);
        } else if (type == GpuDType::BF16) {
            const std::uint16_t h = std::uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
            std::memcpy(out.data() + 2 * i, &h, 2);
        } else {
            // fp16 of values in the normal range the test generates (|x| < 8)
            const std::uint32_t sign = (bits >> 16) & 0x8000u;
            const int exponent = int((bits >> 23) & 0xff) - 127 + 15;
            std::uint32_t mantissa = bits & 0x7fffffu;
            std::uint16_t h = std::uint16_t(sign);
            if (exponent > 0) {
                const std::uint32_t rounded = mantissa + 0xfffu + ((mantissa >> 13) & 1u);
                h = std::uint16_t(sign | (std::uint32_t(exponent) << 10));
                h = std::uint16_t(h + (rounded >> 13)); // a carry bumps the exponent, as rounding should
            }
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
    }
    return out;
}

float from_device(const unsigned char* p, GpuDType type)
{
    std::uint32_t bits = 0;
    if (type == GpuDType::F32) {
        std::memcpy(&bits, p, 4);
    } else if (type == GpuDType::BF16) {
        std::uint16_t h;
        std::memcpy(&h, p, 2);
        bits = std::uint32_t(h) << 16;
    } else {
        std::uint16_t h;
        std::memcpy(&h, p, 2);
        const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
        const int exponent = (h >> 10) & 0x1f;
        const std::uint32_t mantissa = h & 0x3ffu;
        bits = exponent == 0 ? sign : sign | (std::uint32_t(exponent - 15 + 127) << 23) | (mantissa << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

template<class V> DeviceMemory upload(const V& host, std::size_t bytes, int device)
{
    DeviceMemory d(std::max<std::size_t>(bytes, 1), device, "moe kernel check");
    SHARD_CUDA_CHECK(cudaMemcpy(d.data(), host.data(), bytes, cudaMemcpyHostToDevice));
    return d;
}

template<class V> V download(const DeviceMemory& d, std::size_t count)
{
    V host(count);
    SHARD_CUDA_CHECK(cudaMemcpy(host.data(), d.data(), count * sizeof(typename V::value_type), cudaMemcpyDeviceToHost));
    return host;
}

} // namespace

std::vector<MoeKernelCase> moe_kernel_cases()
{
    std::vector<MoeKernelCase> cases;
    // Mixtral-like decode and prefill, DeepSeek-like (many experts, top-6), Qwen3-like
    // (128 experts, top-8), and one token.
    const struct {
        int rows, experts, k, hidden;
    } shapes[] = {{1, 8, 2, 64}, {64, 8, 2, 128}, {2048, 64, 6, 32}, {37, 128, 8, 48}};
    for (const GpuDType type : {GpuDType::F32, GpuDType::BF16, GpuDType::F16})
        for (const auto& s : shapes) {
            MoeKernelCase c;
            c.rows = s.rows;
            c.experts = s.experts;
            c.k = s.k;
            c.hidden = s.hidden;
            c.dtype = type;
            c.name = "moe kernels " + std::to_string(s.rows) + " rows, " + std::to_string(s.experts) + " experts, top-"
                     + std::to_string(s.k) + ", " + std::to_string(s.hidden) + " wide, " + to_string(type);
            cases.push_back(c);
        }
    return cases;
}

MoeKernelResult run_moe_kernel_case(const MoeKernelCase& t, int device)
{
    MoeKernelResult result;
    result.test = t;
    result.limit = t.dtype == GpuDType::F32 ? 1e-5 : 2e-2;
    const int slots = t.rows * t.k;
    const std::size_t e = element_size(t.dtype);
    std::mt19937 rng(1234 + std::uint32_t(t.rows * 7 + t.experts));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> logits(std::size_t(t.rows) * t.experts);
    for (auto& v : logits)
        v = normal(rng);
    for (int r = 0; r < t.rows; r += 3) // exact ties: the lower expert must win
        logits[std::size_t(r) * t.experts + 3 % t.experts] = logits[std::size_t(r) * t.experts];

    try {
        DeviceGuard guard(device);
        DeviceMemory d_logits = upload(logits, logits.size() * sizeof(float), device);
        DeviceMemory d_experts(std::size_t(slots) * sizeof(int), device, "moe kernel check");
        DeviceMemory d_weights(std::size_t(slots) * sizeof(float), device, "moe kernel check");
        kernels::route_top_k(static_cast<const float*>(d_logits.data()), t.rows, t.experts, t.k,
                             static_cast<int*>(d_experts.data()), static_cast<float*>(d_weights.data()), nullptr);
        const auto experts = download<std::vector<int>>(d_experts, std::size_t(slots));
        const auto weights = download<std::vector<float>>(d_weights, std::size_t(slots));
        const run::Routing want = run::route_tokens(logits, t.rows, t.experts, t.k);
        if (experts != want.experts)
            throw std::runtime_error("routing: chosen experts differ from the CPU reference");
        for (int s = 0; s < slots; ++s)
            if (std::abs(weights[std::size_t(s)] - want.weights[std::size_t(s)]) > 1e-6f)
                throw std::runtime_error("routing: weight of slot " + std::to_string(s)
                                         + " differs from the CPU reference");

        DeviceMemory d_counts(std::size_t(t.experts) * sizeof(int), device, "moe kernel check");
        DeviceMemory d_offsets(std::size_t(t.experts + 1) * sizeof(int), device, "moe kernel check");
        DeviceMemory d_order(std::size_t(slots) * sizeof(int), device, "moe kernel check");
        DeviceMemory d_position(std::size_t(slots) * sizeof(int), device, "moe kernel check");
        kernels::group_by_expert(static_cast<const int*>(d_experts.data()), slots, t.experts,
                                 static_cast<int*>(d_counts.data()), static_cast<int*>(d_offsets.data()),
                                 static_cast<int*>(d_order.data()), static_cast<int*>(d_position.data()), nullptr);
        const auto offsets = download<std::vector<int>>(d_offsets, std::size_t(t.experts + 1));
        const auto order = download<std::vector<int>>(d_order, std::size_t(slots));
        const auto position = download<std::vector<int>>(d_position, std::size_t(slots));
        // Expected: slots sorted by expert, ascending inside each expert.
        std::vector<int> want_order(static_cast<std::size_t>(slots));
        for (int s = 0; s < slots; ++s)
            want_order[std::size_t(s)] = s;
        std::stable_sort(want_order.begin(), want_order.end(),
                         [&](int a, int b) { return experts[std::size_t(a)] < experts[std::size_t(b)]; });
        if (order != want_order)
            throw std::runtime_error("grouping: the expert order of the slots is not the stable one");
        for (int s = 0; s < slots; ++s)
            if (order[std::size_t(position[std::size_t(s)])] != s)
                throw std::runtime_error("grouping: position is not the inverse of order at slot " + std::to_string(s));
        for (int x = 0; x <= t.experts; ++x) {
            const int before = int(std::count_if(experts.begin(), experts.end(), [&](int v) { return v < x; }));
            if (offsets[std::size_t(x)] != before)
                throw std::runtime_error("grouping: offset of expert " + std::to_string(x) + " is wrong");
        }

        // Permute: every routed slot's token row, bit for bit.
        std::vector<float> x(std::size_t(t.rows) * t.hidden);
        for (auto& v : x)
            v = normal(rng);
        const auto x_bytes = to_device_bytes(x, t.dtype);
        DeviceMemory d_x = upload(x_bytes, x_bytes.size(), device);
        DeviceMemory d_permuted(std::size_t(slots) * t.hidden * e, device, "moe kernel check");
        kernels::permute_rows(t.dtype, d_permuted.data(), d_x.data(), t.hidden, static_cast<const int*>(d_order.data()),
                              slots, t.k, nullptr);
        const auto permuted = download<std::vector<unsigned char>>(d_permuted, std::size_t(slots) * t.hidden * e);
        for (int p = 0; p < slots; ++p)
            if (std::memcmp(permuted.data() + std::size_t(p) * t.hidden * e,
                            x_bytes.data() + std::size_t(order[std::size_t(p)] / t.k) * t.hidden * e,
                            std::size_t(t.hidden) * e))
                throw std::runtime_error("permute: row " + std::to_string(p) + " is not its token's row");

        // Un-permute expert outputs (random rows standing in for the expert MLPs), all
        // experts and then half of them (a rank's local experts).
        std::vector<float> y(std::size_t(slots) * t.hidden);
        for (auto& v : y)
            v = normal(rng);
        const auto y_bytes = to_device_bytes(y, t.dtype);
        DeviceMemory d_y = upload(y_bytes, y_bytes.size(), device);
        DeviceMemory d_out(std::size_t(t.rows) * t.hidden * e, device, "moe kernel check");
        for (const auto& [begin, end] : {std::pair{0, t.experts}, std::pair{t.experts / 2, t.experts}}) {
            kernels::unpermute_rows(t.dtype, d_out.data(), d_y.data(), t.hidden,
                                    static_cast<const int*>(d_position.data()),
                                    static_cast<const int*>(d_experts.data()),
                                    static_cast<const float*>(d_weights.data()), t.rows, t.k, begin, end, nullptr);
            const auto out = download<std::vector<unsigned char>>(d_out, std::size_t(t.rows) * t.hidden * e);
            double worst = 0, scale = 0;
            for (int r = 0; r < t.rows; ++r)
                for (int c = 0; c < t.hidden; ++c) {
                    double want_sum = 0;
                    for (int j = 0; j < t.k; ++j) {
                        const int s = r * t.k + j;
                        if (experts[std::size_t(s)] >= begin && experts[std::size_t(s)] < end)
                            want_sum += double(weights[std::size_t(s)])
                                        * from_device(y_bytes.data()
                                                          + (std::size_t(position[std::size_t(s)]) * t.hidden + c) * e,
                                                      t.dtype);
                    }
                    const double got = from_device(out.data() + (std::size_t(r) * t.hidden + c) * e, t.dtype);
                    worst = std::max(worst, std::abs(got - want_sum));
                    scale = std::max(scale, std::abs(want_sum));
                }
            result.max_relative_error = std::max(result.max_relative_error, worst / std::max(scale, 1e-30));
        }
        SHARD_CUDA_CHECK(cudaDeviceSynchronize());
        if (result.max_relative_error > result.limit)
            throw std::runtime_error("un-permute: relative error above the limit");
        result.passed = true;
    } catch (const std::exception& ex) {
        result.failure = ex.what();
    }
    return result;
}

OrderedJson to_json(const MoeKernelResult& r)
{
    OrderedJson j;
    j["case"] = r.test.name;
    j["passed"] = r.passed;
    j["max_relative_error"] = r.max_relative_error;
    j["limit"] = r.limit;
    if (!r.failure.empty())
        j["failure"] = r.failure;
    return j;
}

} // namespace shard::cuda
