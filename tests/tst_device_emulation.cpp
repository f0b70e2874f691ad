// The device emulation that runs the engine's CUDA kernels in the host model of CUDA
// (engine/cuda/host_model/device): thread and block indices, __syncthreads, warp shuffles and
// ballots, shared memory, and the faults where a GPU would hang or refuse a launch.
#include "device/device_emulation.h"

#include <QTest>

#include <algorithm>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

Q_DECLARE_METATYPE(dim3)

using shard::cuda::emu::KernelFault;
using shard::cuda::emu::launch;

namespace {

// Each thread writes its global linear index once.
__global__ void index_kernel(int* hits, unsigned* ids)
{
    const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    const unsigned id = block * (blockDim.x * blockDim.y * blockDim.z) + thread;
    ++hits[id];
    ids[id] = id;
}

// Reverses each block's chunk through shared memory: wrong without the barrier.
__global__ void reverse_kernel(int* out, const int* in)
{
    __shared__ int tile[1024];
    const unsigned n = blockDim.x;
    tile[threadIdx.x] = in[blockIdx.x * n + threadIdx.x];
    __syncthreads();
    out[blockIdx.x * n + threadIdx.x] = tile[n - 1 - threadIdx.x];
}

// Butterfly sums over each warp, in float and in 64-bit integers.
__global__ void warp_sum_kernel(float* sums, long long* wide, const float* in)
{
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    float v = in[i];
    long long w = static_cast<long long>(i) << 33;
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
        w += __shfl_xor_sync(0xffffffffu, w, o);
    }
    sums[i] = v;
    wide[i] = w;
}

// Each lane learns which lanes of its warp hold an odd value and how many come before it.
__global__ void ballot_kernel(unsigned* masks, int* ranks, const int* in)
{
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    const bool odd = in[i] % 2 != 0;
    const unsigned mask = __ballot_sync(0xffffffffu, odd);
    masks[i] = mask;
    ranks[i] = odd ? __popc(mask & ((1u << (threadIdx.x % 32)) - 1u)) : -1;
}

__global__ void shared_bytes_kernel(unsigned char* out, unsigned bytes)
{
    const auto* shared = static_cast<const unsigned char*>(shard::cuda::emu::dynamic_shared());
    if (threadIdx.x == 0)
        for (unsigned b = 0; b < bytes; ++b)
            out[b] = shared[b];
}

// Lanes above `live` leave before the shuffle: its full mask waits for them forever.
__global__ void exited_lane_kernel(float* out, unsigned live)
{
    if (threadIdx.x >= live)
        return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

// Half of each warp waits at __syncthreads, the other half at a shuffle.
__global__ void split_warp_kernel(float* out)
{
    if (threadIdx.x % 32 < 16)
        __syncthreads();
    else
        out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

} // namespace

class TestDeviceEmulation : public QObject {
    Q_OBJECT

private slots:
    void everyThreadRunsOnce_data()
    {
        QTest::addColumn<dim3>("grid");
        QTest::addColumn<dim3>("block");
        QTest::newRow("1 x 1") << dim3(1) << dim3(1);
        QTest::newRow("7 blocks of 96") << dim3(7) << dim3(96);
        QTest::newRow("3D grid, 3D block") << dim3(3, 2, 2) << dim3(8, 4, 2);
        QTest::newRow("one block of 1024") << dim3(1) << dim3(1024);
    }

    void everyThreadRunsOnce()
    {
        QFETCH(dim3, grid);
        QFETCH(dim3, block);
        const std::size_t n = std::size_t(grid.x) * grid.y * grid.z * block.x * block.y * block.z;
        std::vector<int> hits(n, 0);
        std::vector<unsigned> ids(n, 0);
        launch("index_kernel", grid, block, 0, nullptr, index_kernel)(hits.data(), ids.data());
        QCOMPARE(std::count(hits.begin(), hits.end(), 1), std::ptrdiff_t(n));
        for (std::size_t i = 0; i < n; ++i)
            QCOMPARE(ids[i], unsigned(i));
    }

    void syncthreadsOrdersSharedMemory_data()
    {
        QTest::addColumn<unsigned>("threads");
        QTest::newRow("one warp") << 32u;
        QTest::newRow("256") << 256u;
        QTest::newRow("1024") << 1024u;
    }

    void syncthreadsOrdersSharedMemory()
    {
        QFETCH(unsigned, threads);
        const unsigned blocks = 3;
        std::vector<int> in(blocks * threads), out(in.size(), -1);
        std::iota(in.begin(), in.end(), 0);
        launch("reverse_kernel", blocks, threads, 0, nullptr, reverse_kernel)(out.data(), in.data());
        for (unsigned b = 0; b < blocks; ++b)
            for (unsigned t = 0; t < threads; ++t)
                QCOMPARE(out[b * threads + t], int(b * threads + threads - 1 - t));
    }

    void shuffleSumsEachWarp()
    {
        const unsigned threads = 128, blocks = 2;
        std::vector<float> in(blocks * threads), sums(in.size());
        std::vector<long long> wide(in.size());
        for (std::size_t i = 0; i < in.size(); ++i)
            in[i] = float(i % 7) - 2.0f; // small integers: every order of the sum is exact
        launch("warp_sum_kernel", blocks, threads, 0, nullptr, warp_sum_kernel)(sums.data(), wide.data(), in.data());
        for (std::size_t warp = 0; warp < in.size() / 32; ++warp) {
            float expected = 0;
            long long expected_wide = 0;
            for (std::size_t lane = 0; lane < 32; ++lane) {
                expected += in[warp * 32 + lane];
                expected_wide += static_cast<long long>(warp * 32 + lane) << 33;
            }
            for (std::size_t lane = 0; lane < 32; ++lane) {
                QCOMPARE(sums[warp * 32 + lane], expected);
                QCOMPARE(wide[warp * 32 + lane], expected_wide);
            }
        }
    }

    void ballotMasksAndRanks()
    {
        const unsigned threads = 64;
        std::vector<int> in(threads);
        for (unsigned i = 0; i < threads; ++i)
            in[i] = int(i * i + i / 3);
        std::vector<unsigned> masks(threads);
        std::vector<int> ranks(threads);
        launch("ballot_kernel", 1, threads, 0, nullptr, ballot_kernel)(masks.data(), ranks.data(), in.data());
        for (unsigned warp = 0; warp < threads / 32; ++warp) {
            unsigned expected = 0;
            for (unsigned lane = 0; lane < 32; ++lane)
                if (in[warp * 32 + lane] % 2)
                    expected |= 1u << lane;
            int rank = 0;
            for (unsigned lane = 0; lane < 32; ++lane) {
                QCOMPARE(masks[warp * 32 + lane], expected);
                QCOMPARE(ranks[warp * 32 + lane], in[warp * 32 + lane] % 2 ? rank++ : -1);
            }
        }
    }

    // A GPU's shared memory starts as garbage: here NaN bytes, so a read before a write shows.
    void dynamicSharedMemoryStartsAsNaNBytes()
    {
        const unsigned bytes = 4096;
        std::vector<unsigned char> out(bytes, 0);
        launch("shared_bytes_kernel", 2, 64, bytes, nullptr, shared_bytes_kernel)(out.data(), bytes);
        QCOMPARE(std::count(out.begin(), out.end(), 0xff), std::ptrdiff_t(bytes));
    }

    void faultsWhereAGpuWouldHang_data()
    {
        QTest::addColumn<int>("kernel");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("shuffle after lanes exited") << 0 << QByteArray("lane 16 has exited");
        QTest::newRow("warp split between barriers") << 1 << QByteArray("wait forever");
    }

    void faultsWhereAGpuWouldHang()
    {
        QFETCH(int, kernel);
        QFETCH(QByteArray, expected);
        std::vector<float> out(64, 0.0f);
        QByteArray message;
        try {
            if (kernel == 0)
                launch("exited_lane_kernel", 1, 32, 0, nullptr, exited_lane_kernel)(out.data(), 16u);
            else
                launch("split_warp_kernel", 1, 64, 0, nullptr, split_warp_kernel)(out.data());
        } catch (const KernelFault& e) {
            message = e.what();
        }
        QVERIFY2(message.contains(expected), message.constData());
        QVERIFY2(message.contains(kernel == 0 ? "exited_lane_kernel" : "split_warp_kernel"), message.constData());
        // The emulation goes on after a fault.
        std::vector<int> in(256), reversed(256);
        std::iota(in.begin(), in.end(), 0);
        launch("reverse_kernel", 1, 256, 0, nullptr, reverse_kernel)(reversed.data(), in.data());
        QCOMPARE(reversed.front(), 255);
        QCOMPARE(reversed.back(), 0);
    }

    void refusesLaunchesAGpuRefuses_data()
    {
        QTest::addColumn<dim3>("block");
        QTest::addColumn<int>("shared");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("2048 threads") << dim3(2048) << 0 << QByteArray("a block of 2048 threads");
        QTest::newRow("64 KiB of shared memory")
            << dim3(128) << 65536 << QByteArray("65536 bytes of dynamic shared memory");
    }

    void refusesLaunchesAGpuRefuses()
    {
        QFETCH(dim3, block);
        QFETCH(int, shared);
        QFETCH(QByteArray, expected);
        std::vector<unsigned char> out(1);
        QByteArray message;
        try {
            launch("shared_bytes_kernel", 1, block, std::size_t(shared), nullptr, shared_bytes_kernel)(out.data(), 0u);
        } catch (const std::invalid_argument& e) {
            message = e.what();
        }
        QVERIFY2(message.contains(expected) && message.contains("shared_bytes_kernel"), message.constData());
    }

    // Host threads ("a thread per GPU") run blocks at once, each on fibers of its own.
    void hostThreadsRunBlocksAtOnce()
    {
        const unsigned threads = 256, blocks = 16;
        std::vector<std::vector<int>> outs(4, std::vector<int>(blocks * threads));
        std::vector<int> in(blocks * threads);
        std::iota(in.begin(), in.end(), 0);
        std::vector<std::thread> hosts;
        for (auto& out : outs)
            hosts.emplace_back([&in, &out] {
                for (int repeat = 0; repeat < 20; ++repeat)
                    launch("reverse_kernel", blocks, threads, 0, nullptr, reverse_kernel)(out.data(), in.data());
            });
        for (auto& h : hosts)
            h.join();
        for (const auto& out : outs)
            for (unsigned b = 0; b < blocks; ++b)
                QCOMPARE(out[b * threads], int(b * threads + threads - 1));
    }
};

QTEST_APPLESS_MAIN(TestDeviceEmulation)
#include "tst_device_emulation.moc"
