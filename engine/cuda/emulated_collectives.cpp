#include "device_collectives.h"

#include "cuda_check.h"
#include "device_resources.h"
#include "kernels.h"

namespace shard::cuda {

namespace {

kernels::Pointers pack(const std::vector<void*>& bufs)
{
    kernels::Pointers p{};
    for (std::size_t i = 0; i < bufs.size(); ++i)
        p.p[i] = bufs[i];
    return p;
}

class EmulatedCollectives final : public DeviceCollectives {
public:
    EmulatedCollectives(int device, cudaStream_t stream, int members)
        : m_device(device)
        , m_stream(stream)
        , m_members(members)
    {
        if (members > kernels::kMaxRanks)
            throw Error("cuda-emulated runs at most " + std::to_string(kernels::kMaxRanks)
                        + " ranks in one group, the plan needs " + std::to_string(members));
    }

    int size() const override { return m_members; }
    bool emulated() const override { return true; }
    cudaStream_t stream(int) const override { return m_stream; }
    void set_streams(const std::vector<cudaStream_t>& streams) override { m_stream = streams.at(0); }

    void all_reduce(const std::vector<void*>& bufs, std::int64_t count, GpuDType type) override
    {
        if (m_members > 1)
            kernels::sum_all(type, pack(bufs), m_members, count, m_stream);
    }

    void all_gather(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                    GpuDType type) override
    {
        kernels::gather_all(type, pack(out), pack(in), m_members, count, m_stream);
    }

    void reduce_scatter(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                        GpuDType type) override
    {
        kernels::reduce_scatter_all(type, pack(out), pack(in), m_members, count, m_stream);
    }

    void all_to_all(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                    GpuDType type) override
    {
        kernels::all_to_all(type, pack(out), pack(in), m_members, count, m_stream);
    }

    void all_to_allv(const std::vector<void*>& in, const Counts& send_counts, const Counts& send_offsets,
                     const std::vector<void*>& out, const Counts&, const Counts& recv_offsets, GpuDType type) override
    {
        // Every member is here: one device copy per pair that moves anything.
        DeviceGuard guard(m_device);
        const std::size_t e = element_size(type);
        for (int m = 0; m < m_members; ++m)
            for (int p = 0; p < m_members; ++p) {
                const std::int64_t count = send_counts[std::size_t(m)][std::size_t(p)];
                if (count == 0)
                    continue;
                SHARD_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(out[std::size_t(p)])
                                                     + std::size_t(recv_offsets[std::size_t(p)][std::size_t(m)]) * e,
                                                 static_cast<const char*>(in[std::size_t(m)])
                                                     + std::size_t(send_offsets[std::size_t(m)][std::size_t(p)]) * e,
                                                 std::size_t(count) * e, cudaMemcpyDeviceToDevice, m_stream));
            }
    }

    void broadcast(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count, GpuDType type,
                   int root) override
    {
        DeviceGuard guard(m_device);
        const std::size_t bytes = std::size_t(count) * element_size(type);
        for (int m = 0; m < m_members; ++m)
            if (out[std::size_t(m)] != in[std::size_t(root)])
                SHARD_CUDA_CHECK(cudaMemcpyAsync(out[std::size_t(m)], in[std::size_t(root)], bytes,
                                                 cudaMemcpyDeviceToDevice, m_stream));
    }

    void send_recv(int, const void* src, int, void* dst, std::int64_t count, GpuDType type) override
    {
        DeviceGuard guard(m_device);
        SHARD_CUDA_CHECK(
            cudaMemcpyAsync(dst, src, std::size_t(count) * element_size(type), cudaMemcpyDeviceToDevice, m_stream));
    }

    void synchronize(double timeout_s) override
    {
        DeviceGuard guard(m_device);
        wait_stream(m_stream, timeout_s);
    }

private:
    int m_device;
    cudaStream_t m_stream;
    int m_members;
};

} // namespace

std::unique_ptr<DeviceCollectives> make_emulated_collectives(int device, cudaStream_t stream, int members)
{
    return std::make_unique<EmulatedCollectives>(device, stream, members);
}

} // namespace shard::cuda
