#include "gpu_profile.h"

#include "device_collectives.h"
#include "device_resources.h"
#include "gpu_blas.h"
#include "kernels.h"

#include "cost/perf_tables.h"
#include "run/run_result.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace shard::cuda {

namespace {

// The GEMM rows of the shipped tables: every row to 17, then each wave edge of 16 and of 256
// rows on both sides (where cuBLAS's times step), then the large prefill batches.
std::vector<std::int64_t> table_rows()
{
    std::vector<std::int64_t> m;
    for (std::int64_t r = 1; r <= 17; ++r)
        m.push_back(r);
    for (std::int64_t r = 32; r <= 256; r += 16)
        m.insert(m.end(), {r, r + 1});
    for (std::int64_t r = 512; r <= 4352; r += 256)
        m.insert(m.end(), {r, r + 1});
    m.insert(m.end(), {8192, 16384, 32768});
    return m;
}

std::vector<std::int64_t> powers_of_two(std::int64_t from, std::int64_t to, int step = 1)
{
    std::vector<std::int64_t> v;
    for (std::int64_t x = from; x <= to; x <<= step)
        v.push_back(x);
    return v;
}

const char* table_dtype(GpuDType type)
{
    switch (type) {
    case GpuDType::BF16:
        return "bfloat16";
    case GpuDType::F16:
        return "float16";
    case GpuDType::F32:
        return "float32";
    }
    return "bfloat16";
}

CurveTable new_table(const std::string& family, const std::vector<std::int64_t>& axis)
{
    CurveTable table = empty_table(family);
    table.source = family;
    for (const auto x : axis)
        table.axis_values.push_back(double(x));
    return table;
}

CurveTable::Row new_row(std::vector<std::string> keys, std::size_t cells)
{
    return {std::move(keys), std::vector<double>(cells, std::numeric_limits<double>::quiet_NaN()), 0};
}

// Counts the points measured and tells the caller; stops between points when asked.
class Progress {
public:
    Progress(const ProfileOptions& options, int total)
        : m_options(options)
        , m_total(total)
    { }
    void point(const std::string& family)
    {
        if (m_options.cancel && m_options.cancel->load())
            throw run::Cancelled("profile cancelled");
        ++m_done;
        if (m_options.on_progress)
            m_options.on_progress({family, m_done, m_total});
    }

private:
    const ProfileOptions& m_options;
    int m_done = 0, m_total = 0;
};

// A nonzero constant in every element (0x3C3C: about 1 in fp16, 0.01 in bf16 and fp32), so
// no kernel runs on zeros; the values do not matter, only the time.
void fill(DeviceMemory& memory, cudaStream_t stream)
{
    SHARD_CUDA_CHECK(cudaMemsetAsync(memory.data(), 0x3C, memory.bytes(), stream));
}

std::size_t free_bytes()
{
    std::size_t free = 0, total = 0;
    SHARD_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    return free;
}

void profile_gemms(const ProfileSweep& sweep, Progress& progress, MachineProfile& out)
{
    std::vector<std::int64_t> rows;
    for (const auto& g : sweep.gemms)
        rows.insert(rows.end(), g.m.begin(), g.m.end());
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    CurveTable table = new_table("gemm", rows);
    Stream stream(0);
    BlasHandle blas(0, stream.get());
    for (const auto& g : sweep.gemms) {
        const std::int64_t m_max = *std::max_element(g.m.begin(), g.m.end());
        const std::int64_t nk_max = *std::max_element(g.nk.begin(), g.nk.end());
        const std::size_t e = element_size(g.dtype);
        DeviceMemory x(std::size_t(m_max * nk_max) * e, 0, "profile"),
            w(std::size_t(nk_max * nk_max) * e, 0, "profile"), y(std::size_t(m_max * nk_max) * e, 0, "profile");
        fill(x, stream.get());
        fill(w, stream.get());
        const std::string family = std::string("gemm ") + table_dtype(g.dtype);
        for (const auto n : g.nk)
            for (const auto k : g.nk) {
                CurveTable::Row row =
                    new_row({table_dtype(g.dtype), std::to_string(n), std::to_string(k)}, rows.size());
                for (const auto m : g.m) {
                    const auto at = std::lower_bound(rows.begin(), rows.end(), m) - rows.begin();
                    row.ms[std::size_t(at)] = time_ms(stream.get(), sweep.repetitions, [&] {
                        gemm(blas.get(), g.dtype, x.data(), w.data(), y.data(), m, k, n);
                    });
                    progress.point(family);
                }
                table.rows.push_back(std::move(row));
            }
    }
    out.tables["gemm"] = to_csv(table);
}

void profile_attention(const ProfileSweep& sweep, Progress& progress, MachineProfile& out)
{
    const GpuDType type = GpuDType::BF16;
    const std::int64_t e = std::int64_t(element_size(type));
    // What a point may take of the GPU's free memory: the rest stays for the CUDA context.
    const double budget = 0.6 * double(free_bytes());
    Stream stream(0);
    BlasHandle blas(0, stream.get());
    CurveTable prefill = new_table("attention_context", sweep.prefill_tokens);
    CurveTable decode = new_table("attention_generation", sweep.decode_cached);
    DeviceMemory pos(sizeof(int), 0, "profile");
    bool skipped = false;
    for (const auto& shape : sweep.attention) {
        const int d = shape.head_dim, heads = shape.heads, kv_heads = shape.kv_heads;
        const std::int64_t q_ld = std::int64_t(heads + 2 * kv_heads) * d, kv_width = std::int64_t(kv_heads) * d;
        for (const auto batch : sweep.attention_batches) {
            const std::vector<std::string> keys = {kEngineKernelSource,
                                                   "bfloat16",
                                                   "bfloat16",
                                                   std::to_string(d),
                                                   "0",
                                                   std::to_string(heads),
                                                   std::to_string(kv_heads),
                                                   std::to_string(batch)};
            // Prefill: the engine's path, one sequence after another through cuBLAS with the
            // fp32 scores in memory.
            CurveTable::Row p = new_row(keys, prefill.axis_values.size());
            for (std::size_t i = 0; i < sweep.prefill_tokens.size(); ++i) {
                const std::int64_t T = sweep.prefill_tokens[i];
                const double bytes =
                    double(T) * (q_ld + 2 * kv_width + heads * d) * e + double(heads) * T * T * (4 + e);
                if (bytes <= budget) {
                    DeviceMemory q(std::size_t(T * q_ld * e), 0, "profile"),
                        kv(std::size_t(2 * T * kv_width * e), 0, "profile"),
                        scores(std::size_t(heads * T * T * 4), 0, "profile"),
                        probs(std::size_t(heads * T * T * e), 0, "profile"),
                        o(std::size_t(T * heads * d * e), 0, "profile");
                    fill(q, stream.get());
                    fill(kv, stream.get());
                    const char* v_cache = static_cast<const char*>(kv.data()) + T * kv_width * e;
                    p.ms[i] = time_ms(stream.get(), sweep.repetitions, [&] {
                        for (std::int64_t b = 0; b < batch; ++b) {
                            attention_scores(blas.get(), type, q.data(), q_ld, kv.data(),
                                             static_cast<float*>(scores.data()), heads, kv_heads, d, int(T), int(T));
                            kernels::causal_softmax(type, probs.data(), static_cast<const float*>(scores.data()), heads,
                                                    int(T), int(T), 0, stream.get());
                            attention_values(blas.get(), type, probs.data(), v_cache, o.data(), heads, kv_heads, d,
                                             int(T), int(T));
                        }
                    });
                } else {
                    skipped = true;
                }
                progress.point("attention prefill");
            }
            prefill.rows.push_back(std::move(p));
            // Decode: the split-context kernel over a cache as long as the context.
            CurveTable::Row g = new_row(keys, decode.axis_values.size());
            for (std::size_t i = 0; i < sweep.decode_cached.size(); ++i) {
                const std::int64_t ctx = sweep.decode_cached[i] + 1;
                const int splits = kernels::attention_splits(int(ctx));
                const double bytes =
                    double(batch)
                    * (2.0 * ctx * kv_width * e + double(q_ld + heads * d) * e + double(heads) * splits * (d + 2) * 4);
                if (bytes <= budget) {
                    DeviceMemory q(std::size_t(batch * q_ld * e), 0, "profile"),
                        kv(std::size_t(2 * batch * ctx * kv_width * e), 0, "profile"),
                        o(std::size_t(batch * heads * d * e), 0, "profile"),
                        partials(std::size_t(batch * heads * splits * (d + 2) * 4), 0, "profile");
                    fill(q, stream.get());
                    fill(kv, stream.get());
                    kernels::set_int(static_cast<int*>(pos.data()), int(ctx - 1), stream.get());
                    const char* v_cache = static_cast<const char*>(kv.data()) + batch * ctx * kv_width * e;
                    g.ms[i] = time_ms(stream.get(), sweep.repetitions, [&] {
                        kernels::attention(type, q.data(), q_ld, kv.data(), v_cache, o.data(),
                                           static_cast<float*>(partials.data()), int(batch), 1, heads, kv_heads, d,
                                           int(ctx), static_cast<const int*>(pos.data()), stream.get());
                    });
                } else {
                    skipped = true;
                }
                progress.point("attention decode");
            }
            decode.rows.push_back(std::move(g));
        }
    }
    if (skipped)
        out.notes.push_back("attention: the largest shapes did not fit in this GPU's free memory and stay unmeasured");
    out.tables["attention_context"] = to_csv(prefill);
    out.tables["attention_generation"] = to_csv(decode);
}

struct CollectiveCall {
    const char* table_op;
    // Runs one call of nccl-tests' size `elements` on the group.
    void (*run)(DeviceCollectives&, const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t elements);
};

const CollectiveCall kCollectives[] = {
    {"all_reduce", [](DeviceCollectives& c, const std::vector<void*>& in, const std::vector<void*>&,
                      std::int64_t elements) { c.all_reduce(in, elements, GpuDType::BF16); }},
    {"all_gather", [](DeviceCollectives& c, const std::vector<void*>& in, const std::vector<void*>& out,
                      std::int64_t elements) { c.all_gather(in, out, elements / c.size(), GpuDType::BF16); }},
    {"reduce_scatter", [](DeviceCollectives& c, const std::vector<void*>& in, const std::vector<void*>& out,
                          std::int64_t elements) { c.reduce_scatter(in, out, elements / c.size(), GpuDType::BF16); }},
    {"alltoall", [](DeviceCollectives& c, const std::vector<void*>& in, const std::vector<void*>& out,
                    std::int64_t elements) { c.all_to_all(in, out, elements / c.size(), GpuDType::BF16); }},
};

void profile_nccl(const ProfileSweep& sweep, int devices, Progress& progress, MachineProfile& out)
{
    CurveTable table = new_table("nccl", sweep.nccl_elements);
    const std::int64_t largest = *std::max_element(sweep.nccl_elements.begin(), sweep.nccl_elements.end());
    for (int size = 2; size <= devices; ++size) {
        std::vector<int> members;
        std::vector<Stream> streams;
        std::vector<cudaStream_t> raw;
        std::vector<DeviceMemory> in, outs;
        std::vector<void*> in_ptr, out_ptr;
        for (int d = 0; d < size; ++d) {
            members.push_back(d);
            streams.emplace_back(d);
            raw.push_back(streams.back().get());
            in.emplace_back(std::size_t(largest) * 2, d, "profile");
            outs.emplace_back(std::size_t(largest) * 2, d, "profile");
            fill(in.back(), raw.back());
            in_ptr.push_back(in.back().data());
            out_ptr.push_back(outs.back().data());
        }
        const auto group = make_nccl_collectives(members, raw);
        group->synchronize(60);
        for (const auto& call : kCollectives) {
            CurveTable::Row row = new_row({call.table_op, "half", std::to_string(size)}, table.axis_values.size());
            const std::string family = std::string("nccl ") + call.table_op + " on " + std::to_string(size) + " GPUs";
            for (std::size_t i = 0; i < sweep.nccl_elements.size(); ++i) {
                const std::int64_t elements = sweep.nccl_elements[i];
                // Host time over the calls: they run on every member's stream at once.
                for (int warm = 0; warm < 2; ++warm)
                    call.run(*group, in_ptr, out_ptr, elements);
                group->synchronize(60);
                const auto start = std::chrono::steady_clock::now();
                for (int r = 0; r < sweep.repetitions; ++r)
                    call.run(*group, in_ptr, out_ptr, elements);
                group->synchronize(60);
                row.ms[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count()
                            / sweep.repetitions;
                progress.point(family);
            }
            table.rows.push_back(std::move(row));
        }
    }
    out.tables["nccl"] = to_csv(table);
}

} // namespace

ProfileSweep ProfileSweep::full()
{
    ProfileSweep s;
    const auto rows = table_rows();
    const std::vector<std::int64_t> nk = {1024, 2048, 4096, 8192, 16384};
    std::vector<std::int64_t> fp32_rows;
    std::copy_if(rows.begin(), rows.end(), std::back_inserter(fp32_rows), [](std::int64_t m) { return m <= 4096; });
    s.gemms = {
        {GpuDType::BF16, rows, nk}, {GpuDType::F16, rows, nk}, {GpuDType::F32, fp32_rows, {1024, 2048, 4096, 8192}}};
    s.attention = {{128, 64, 8}, {128, 32, 8}, {128, 32, 4}, {128, 16, 2}, {128, 8, 1}, {128, 8, 8}, {64, 32, 8}};
    s.attention_batches = {1, 2, 4, 8, 16, 32, 64};
    s.prefill_tokens = {16, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
    for (std::int64_t step = 1; step <= 131071; step = 2 * step + 1)
        s.decode_cached.push_back(step);
    s.nccl_elements = powers_of_two(256, std::int64_t(1) << 29);
    s.repetitions = 10;
    return s;
}

ProfileSweep ProfileSweep::quick()
{
    ProfileSweep s;
    s.gemms = {{GpuDType::BF16,
                {1, 2, 4, 8, 16, 32, 64, 128, 129, 256, 257, 512, 1024, 2048, 4096, 8192},
                {1024, 4096, 16384}}};
    s.attention = {{128, 64, 8}, {128, 32, 4}, {128, 16, 2}, {128, 8, 1}};
    s.attention_batches = {1, 8, 32};
    s.prefill_tokens = {128, 512, 1024, 2048, 4096};
    s.decode_cached = {127, 511, 2047, 8191, 32767};
    s.nccl_elements = powers_of_two(1024, std::int64_t(1) << 26, 2);
    s.repetitions = 3;
    return s;
}

int ProfileSweep::points(int devices) const
{
    int n = 0;
    for (const auto& g : gemms)
        n += int(g.m.size() * g.nk.size() * g.nk.size());
    n += int(attention.size() * attention_batches.size() * (prefill_tokens.size() + decode_cached.size()));
    n += std::max(0, devices - 1) * int(std::size(kCollectives) * nccl_elements.size());
    return n;
}

MachineProfile run_profile(const ProfileOptions& options)
{
    const ProfileSweep& sweep = options.sweep;
    MachineProfile profile;
    profile.devices = options.devices;
    if (options.devices < 1)
        throw Error("a profile needs at least one GPU, got " + std::to_string(options.devices));
    Progress progress(options, sweep.points(options.devices));
    if (!sweep.gemms.empty())
        profile_gemms(sweep, progress, profile);
    if (!sweep.attention.empty())
        profile_attention(sweep, progress, profile);
    if (options.devices >= 2 && !sweep.nccl_elements.empty()) {
        try {
            profile_nccl(sweep, options.devices, progress, profile);
        } catch (const run::Cancelled&) {
            throw;
        } catch (const Error& e) {
            // Without NCCL (a build without it) the rest of the profile still stands.
            profile.tables.erase("nccl");
            profile.notes.push_back(std::string("collectives: ") + e.what());
        }
    } else
        profile.notes.push_back("collectives: one GPU here, nothing to measure (the shipped tables stay their source)");
    profile.notes.push_back("fp8 and quantized GEMMs, MoE and MLA: the engine has no such kernels (the shipped tables "
                            "stay their source)");
    return profile;
}

} // namespace shard::cuda
