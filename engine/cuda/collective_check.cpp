#include "collective_check.h"

#include "device_collectives.h"
#include "device_resources.h"

#include <algorithm>
#include <cstring>
#include <memory>

namespace shard::cuda {

namespace {

// Small integers are exact in fp32, fp16 and bf16, and so are their sums over 8 members.
float value_of(int member, std::int64_t i)
{
    return float((member * 7 + i * 3) % 13 - 6);
}

void store(std::vector<unsigned char>& bytes, std::size_t i, float v, GpuDType type)
{
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    if (type == GpuDType::F32) {
        std::memcpy(bytes.data() + 4 * i, &bits, 4);
        return;
    }
    std::uint16_t h = 0;
    if (type == GpuDType::BF16) {
        h = std::uint16_t(bits >> 16); // exact for these values
    } else if (v != 0.0f) { // fp16 of an integer below 2^11: exact
        const std::uint32_t sign = (bits >> 16) & 0x8000u;
        const int exponent = int((bits >> 23) & 0xff) - 127 + 15;
        h = std::uint16_t(sign | (std::uint32_t(exponent) << 10) | ((bits & 0x7fffffu) >> 13));
    }
    std::memcpy(bytes.data() + 2 * i, &h, 2);
}

std::vector<unsigned char> encode(const std::vector<float>& values, GpuDType type)
{
    std::vector<unsigned char> bytes(values.size() * element_size(type));
    for (std::size_t i = 0; i < values.size(); ++i)
        store(bytes, i, values[i], type);
    return bytes;
}

} // namespace

std::vector<CollectiveCase> collective_cases(int gpus)
{
    std::vector<CollectiveCase> cases;
    auto add = [&](int members, bool emulated) {
        for (const char* op : {"all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast"})
            for (const GpuDType type : {GpuDType::F32, GpuDType::BF16, GpuDType::F16}) {
                CollectiveCase c;
                c.op = op;
                c.members = members;
                c.emulated = emulated;
                c.dtype = type;
                c.name = std::string("collectives ") + (emulated ? "emulated" : "nccl") + " x" + std::to_string(members)
                         + " " + op + " " + to_string(type);
                cases.push_back(c);
            }
    };
    for (const int n : {2, 4, 8})
        add(n, true);
    if (gpus >= 2)
        add(std::min(gpus, 8), false);
    return cases;
}

CollectiveCheckResult run_collective_case(const CollectiveCase& t)
{
    CollectiveCheckResult result;
    result.test = t;
    const int n = t.members;
    const std::int64_t count = 1000 + 24; // not a multiple of any vector width
    const std::size_t e = element_size(t.dtype);
    const bool chunked_in = t.op == "reduce_scatter" || t.op == "all_to_all";
    const bool chunked_out = t.op == "all_gather" || t.op == "all_to_all";
    const std::int64_t in_count = chunked_in ? count * n : count;
    const std::int64_t out_count = t.op == "all_reduce" ? count : chunked_out ? count * n : count;
    try {
        std::vector<int> devices;
        for (int m = 0; m < n; ++m)
            devices.push_back(t.emulated ? 0 : m);
        std::vector<std::unique_ptr<Stream>> streams;
        std::vector<cudaStream_t> raw;
        for (int m = 0; m < (t.emulated ? 1 : n); ++m) {
            streams.push_back(std::make_unique<Stream>(devices[std::size_t(m)]));
            raw.push_back(streams.back()->get());
        }
        auto comm = t.emulated ? make_emulated_collectives(0, raw[0], n) : make_nccl_collectives(devices, raw);
        std::vector<DeviceMemory> in, out;
        std::vector<void*> in_ptrs, out_ptrs;
        std::vector<std::vector<float>> host_in(static_cast<std::size_t>(n));
        for (int m = 0; m < n; ++m) {
            DeviceGuard guard(devices[std::size_t(m)]);
            for (std::int64_t i = 0; i < in_count; ++i)
                host_in[std::size_t(m)].push_back(value_of(m, i));
            const auto bytes = encode(host_in[std::size_t(m)], t.dtype);
            in.emplace_back(bytes.size(), devices[std::size_t(m)], "collective check");
            SHARD_CUDA_CHECK(cudaMemcpy(in.back().data(), bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
            out.emplace_back(std::size_t(out_count) * e, devices[std::size_t(m)], "collective check");
            in_ptrs.push_back(in.back().data());
            out_ptrs.push_back(t.op == "all_reduce" ? in.back().data() : out.back().data());
        }
        if (t.op == "all_reduce")
            comm->all_reduce(in_ptrs, count, t.dtype);
        else if (t.op == "all_gather")
            comm->all_gather(in_ptrs, out_ptrs, count, t.dtype);
        else if (t.op == "reduce_scatter")
            comm->reduce_scatter(in_ptrs, out_ptrs, count, t.dtype);
        else if (t.op == "broadcast") // from the last member, so a root of 0 by mistake shows
            comm->broadcast(in_ptrs, out_ptrs, count, t.dtype, n - 1);
        else
            comm->all_to_all(in_ptrs, out_ptrs, count, t.dtype);
        comm->synchronize(30.0);
        for (int r = 0; r < n && result.failure.empty(); ++r) {
            std::vector<float> want(static_cast<std::size_t>(out_count));
            for (std::int64_t x = 0; x < out_count; ++x) {
                float v = 0;
                if (t.op == "all_reduce")
                    for (int m = 0; m < n; ++m)
                        v += host_in[std::size_t(m)][std::size_t(x)];
                else if (t.op == "all_gather")
                    v = host_in[std::size_t(x / count)][std::size_t(x % count)];
                else if (t.op == "reduce_scatter")
                    for (int m = 0; m < n; ++m)
                        v += host_in[std::size_t(m)][std::size_t(r * count + x)];
                else if (t.op == "broadcast")
                    v = host_in[std::size_t(n - 1)][std::size_t(x)];
                else
                    v = host_in[std::size_t(x / count)][std::size_t(r * count + x % count)];
                want[std::size_t(x)] = v;
            }
            const auto want_bytes = encode(want, t.dtype);
            std::vector<unsigned char> got(want_bytes.size());
            DeviceGuard guard(devices[std::size_t(r)]);
            SHARD_CUDA_CHECK(cudaMemcpy(got.data(), out_ptrs[std::size_t(r)], got.size(), cudaMemcpyDeviceToHost));
            if (got != want_bytes)
                result.failure = "member " + std::to_string(r) + " holds other values than the host computation";
        }
        result.passed = result.failure.empty();
    } catch (const std::exception& ex) {
        result.failure = ex.what();
    }
    return result;
}

OrderedJson to_json(const CollectiveCheckResult& r)
{
    OrderedJson j;
    j["case"] = r.test.name;
    j["passed"] = r.passed;
    if (!r.failure.empty())
        j["failure"] = r.failure;
    return j;
}

} // namespace shard::cuda
