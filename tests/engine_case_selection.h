#pragma once

// Which of the selftest's cases the engine-on-host suites run, in one place: it reads the
// tier (tests/test_tier.h), whether the binary runs the engine's own kernels or the host
// loops, and whether it runs under the sanitizers. Every selection keeps each kind of
// case the tier promises; the full tier runs every case.
#include "cuda/gpu_selftest.h"

#include <string>
#include <vector>

namespace shard::test {

// How the binary runs the engine's kernels.
enum class KernelBuild {
    HostLoops, // host loops that do what each kernel does: quick, the whole matrix
    DeviceKernels, // the .cu files themselves, each block's threads on CPU fibers
};

// The three matrices of the selftest, in the order the test functions list them.
const std::vector<cuda::SelftestCase>& fp32Cases(); // fp32, every rank emulated on one "GPU"
const std::vector<cuda::SelftestCase>& eightGpuCases(); // fp32 and bf16 on eight "GPUs" (a thread each)
const std::vector<cuda::SelftestCase>& halfCases(); // bf16 and fp16 (dense models), emulated

// The kind of layout a case is: tensor layout, mesh axes, overlap and the model's features
// ("2d-summa pp", "megatron dp ep4 moe", "1d-column gqa").
std::string layoutKind(const cuda::SelftestCase& c);

// Whether this process runs the case. A case is kept when it is the first of its kind (in
// the order of the three matrices), where the kind is coarser for the slower builds:
//  - host loops: every layout kind in every element type (with sanitizers: each tensor
//    layout, dense and MoE, and each model feature, in fp32 and bf16);
//  - the kernels themselves: each tensor layout and each kernel path a model or mesh adds
//    (MoE, expert parallelism, overlap, GQA, qk-norm, LayerNorm) within the 1D and the grid
//    layouts, in each element type (with sanitizers: fp32, each tensor layout and each
//    model's own paths), from the emulated matrices: on eight "GPUs" the same kernels run
//    again, in the full tier.
// SHARD_TEST_SHARD=K/N keeps every N-th selected case from the K-th (0-based), so one long
// test function can run as N ctest entries side by side.
bool selected(const cuda::SelftestCase& c, KernelBuild build);

} // namespace shard::test
