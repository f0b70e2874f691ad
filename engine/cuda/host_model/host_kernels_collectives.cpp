// The emulated collectives' kernels (engine/cuda/kernels_collectives.cu) on the host: n
// buffers of one "device", sums accumulated in fp32 and rounded once to the buffers' type.
#include "cuda/kernels.h"
#include "host_elements.h"
#include "host_streams.h"

#include <vector>

namespace shard::cuda::kernels {

void sum_all(GpuDType type, Pointers bufs, int n, std::int64_t count, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t i = 0; i < count; ++i) {
            float total = 0;
            for (int r = 0; r < n; ++r)
                total += host::load(type, bufs.p[r], i);
            for (int r = 0; r < n; ++r)
                host::store(type, bufs.p[r], i, total);
        }
    });
}

// The inputs are staged first: an output may be another member's input.
void gather_all(GpuDType type, Pointers out, Pointers in, int n, std::int64_t count, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        std::vector<char> all(std::size_t(n * count) * element_size(type));
        for (int i = 0; i < n; ++i)
            host::copy(type, all.data(), i * count, in.p[i], 0, count);
        for (int r = 0; r < n; ++r)
            host::copy(type, out.p[r], 0, all.data(), 0, n * count);
    });
}

void reduce_scatter_all(GpuDType type, Pointers out, Pointers in, int n, std::int64_t count, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        std::vector<float> sums(std::size_t(n * count), 0.0f);
        for (int i = 0; i < n; ++i)
            for (std::int64_t x = 0; x < n * count; ++x)
                sums[std::size_t(x)] += host::load(type, in.p[i], x);
        for (int r = 0; r < n; ++r)
            for (std::int64_t x = 0; x < count; ++x)
                host::store(type, out.p[r], x, sums[std::size_t(r * count + x)]);
    });
}

void all_to_all(GpuDType type, Pointers out, Pointers in, int n, std::int64_t count, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        std::vector<char> moved(std::size_t(n * n * count) * element_size(type));
        for (int r = 0; r < n; ++r)
            for (int i = 0; i < n; ++i)
                host::copy(type, moved.data(), (std::int64_t(r) * n + i) * count, in.p[i], std::int64_t(r) * count,
                           count);
        for (int r = 0; r < n; ++r)
            host::copy(type, out.p[r], 0, moved.data(), std::int64_t(r) * n * count, n * count);
    });
}

} // namespace shard::cuda::kernels
