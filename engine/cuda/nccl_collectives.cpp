// NCCL implementation of DeviceCollectives: one communicator per local GPU, driven from
// one host thread with grouped calls.
#include "device_collectives.h"

#include "cuda_check.h"
#include "device_resources.h"

#ifdef SHARDSTUDIO_HAVE_NCCL
#include <nccl.h>

#define SHARD_NCCL_CHECK(call)                                                                                         \
    do {                                                                                                               \
        const ncclResult_t shard_status_ = (call);                                                                     \
        if (shard_status_ != ncclSuccess)                                                                              \
            throw ::shard::cuda::CudaError(std::string(#call) + " failed: " + ncclGetErrorString(shard_status_) + " ("  \
                                           + ncclGetLastError(nullptr) + ") at " + __FILE__ + ":"                      \
                                           + std::to_string(__LINE__));                                                \
    } while (0)
#endif

namespace shard::cuda {

#ifdef SHARDSTUDIO_HAVE_NCCL

namespace {

ncclDataType_t nccl_type(GpuDType type)
{
    switch (type) {
    case GpuDType::F32: return ncclFloat32;
    case GpuDType::F16: return ncclFloat16;
    case GpuDType::BF16: return ncclBfloat16;
    }
    return ncclFloat32;
}

class NcclCollectives final : public DeviceCollectives {
public:
    NcclCollectives(const std::vector<int>& devices, const std::vector<cudaStream_t>& streams)
        : m_devices(devices)
        , m_streams(streams)
    {
        const int n = int(devices.size());
        std::vector<ncclComm_t> world(std::size_t(n), nullptr);
        SHARD_NCCL_CHECK(ncclCommInitAll(world.data(), n, devices.data()));
        // The tensor group as a split of the world (one color: every rank), the way each mesh
        // axis gets its own communicator.
        m_comms.assign(std::size_t(n), nullptr);
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int r = 0; r < n; ++r)
            SHARD_NCCL_CHECK(ncclCommSplit(world[r], 0, r, &m_comms[r], nullptr));
        SHARD_NCCL_CHECK(ncclGroupEnd());
        for (auto comm : world)
            ncclCommDestroy(comm);
    }

    ~NcclCollectives() override
    {
        for (auto comm : m_comms)
            if (comm)
                m_aborted ? ncclCommAbort(comm) : ncclCommDestroy(comm);
    }

    int size() const override { return int(m_devices.size()); }
    bool emulated() const override { return false; }
    cudaStream_t stream(int member) const override { return m_streams[member]; }

    void all_reduce(const std::vector<void*>& bufs, std::int64_t count, GpuDType type) override
    {
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int r = 0; r < size(); ++r)
            SHARD_NCCL_CHECK(ncclAllReduce(bufs[r], bufs[r], std::size_t(count), nccl_type(type), ncclSum, m_comms[r], m_streams[r]));
        SHARD_NCCL_CHECK(ncclGroupEnd());
    }

    void all_gather(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                    GpuDType type) override
    {
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int r = 0; r < size(); ++r)
            SHARD_NCCL_CHECK(ncclAllGather(in[r], out[r], std::size_t(count), nccl_type(type), m_comms[r], m_streams[r]));
        SHARD_NCCL_CHECK(ncclGroupEnd());
    }

    void reduce_scatter(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                        GpuDType type) override
    {
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int r = 0; r < size(); ++r)
            SHARD_NCCL_CHECK(ncclReduceScatter(in[r], out[r], std::size_t(count), nccl_type(type), ncclSum, m_comms[r],
                                               m_streams[r]));
        SHARD_NCCL_CHECK(ncclGroupEnd());
    }

    void all_to_all(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                    GpuDType type) override
    {
        // NCCL has no all-to-all call: every pair exchanges one chunk, all in one group so the
        // sends and receives of every member are matched together.
        const std::size_t bytes = std::size_t(count) * element_size(type);
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int r = 0; r < size(); ++r)
            for (int peer = 0; peer < size(); ++peer) {
                SHARD_NCCL_CHECK(ncclSend(static_cast<const char*>(in[r]) + std::size_t(peer) * bytes, std::size_t(count),
                                          nccl_type(type), peer, m_comms[r], m_streams[r]));
                SHARD_NCCL_CHECK(ncclRecv(static_cast<char*>(out[r]) + std::size_t(peer) * bytes, std::size_t(count),
                                          nccl_type(type), peer, m_comms[r], m_streams[r]));
            }
        SHARD_NCCL_CHECK(ncclGroupEnd());
    }

    void synchronize(double timeout_s) override
    {
        auto poll = [this] {
            for (int r = 0; r < size(); ++r) {
                ncclResult_t async = ncclSuccess;
                ncclCommGetAsyncError(m_comms[r], &async);
                if (async != ncclSuccess && async != ncclInProgress) {
                    m_aborted = true;
                    throw CudaError("NCCL reported an asynchronous error on rank " + std::to_string(r) + ": "
                                    + ncclGetErrorString(async));
                }
            }
        };
        for (int r = 0; r < size(); ++r) {
            DeviceGuard guard(m_devices[r]);
            try {
                wait_stream(m_streams[r], timeout_s, poll);
            } catch (...) {
                m_aborted = true;
                throw;
            }
        }
    }

private:
    std::vector<int> m_devices;
    std::vector<cudaStream_t> m_streams;
    std::vector<ncclComm_t> m_comms;
    bool m_aborted = false;
};

} // namespace

std::unique_ptr<DeviceCollectives> make_nccl_collectives(const std::vector<int>& devices,
                                                         const std::vector<cudaStream_t>& streams)
{
    return std::make_unique<NcclCollectives>(devices, streams);
}

std::string nccl_version()
{
    int v = 0;
    if (ncclGetVersion(&v) != ncclSuccess)
        return "unknown";
    return std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." + std::to_string(v % 100);
}

#else

std::unique_ptr<DeviceCollectives> make_nccl_collectives(const std::vector<int>&, const std::vector<cudaStream_t>&)
{
    throw Error("this build of the CUDA engine has no NCCL: multi-GPU runs need NCCL (use --backend cuda-emulated)");
}

std::string nccl_version()
{
    return "not compiled";
}

#endif

} // namespace shard::cuda
