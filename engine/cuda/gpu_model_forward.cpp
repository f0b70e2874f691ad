// GpuModel's forward pass: each op is enqueued for every rank before the next, and the
// collectives sit between them exactly where the CPU ShardedModel (Megatron branch) and the
// planner's StepBuilder put them.
#include "gpu_model_impl.h"

#include "gpu_blas.h"
#include "kernels.h"

#include <cstdio>

namespace shard::cuda {

namespace {

constexpr float kNormEps = 1e-5f;

template <class F>
std::vector<void*> each_ptr(std::vector<GpuRank>& ranks, F f)
{
    std::vector<void*> out;
    for (auto& R : ranks)
        out.push_back(f(R));
    return out;
}

} // namespace

void GpuModel::Impl::forward(int position, int T)
{
    if (first_stage)
        embed(T); // later stages find the previous stage's activations in x
    for (int l = first_layer; l < first_layer + layer_count; ++l) {
        attention_block(l, position, T);
        if (model.is_moe_layer(l))
            moe_block(l, T);
        else
            mlp_block(l, T);
    }
    if (last_stage)
        head(T);
}

void GpuModel::Impl::embed(int T)
{
    const GpuDType type = options.dtype;
    const std::int64_t M = std::int64_t(batch) * T;
    const std::int64_t h = model.hidden;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        // Decode reads the tokens the last step picked, on the device.
        const int* ids = feedback ? R.next_tokens + first_seq : R.tokens;
        op(R, "embed_lookup", "embedding", -1,
           [&] { kernels::embed(type, sp ? R.part : R.x, R.embed, ids, M, h, R.vocab_begin, vl, R.stream); });
    }
    const std::int64_t e = std::int64_t(element_size(type));
    if (sp) {
        collective(CollectiveKind::ReduceScatter, M * h * e, "embedding", [&] {
            comm->reduce_scatter(each_ptr(ranks, [](GpuRank& R) { return R.part; }),
                                 each_ptr(ranks, [](GpuRank& R) { return R.x; }), M / t * h, type);
        });
    } else if (t > 1) {
        collective(CollectiveKind::AllReduce, M * h * e, "embedding",
                   [&] { comm->all_reduce(each_ptr(ranks, [](GpuRank& R) { return R.x; }), M * h, type); });
    }
    if (!sp)
        check_same("embedding x", -1, &GpuRank::x, M * h);
    if (model.position == PositionKind::Learned) {
        const std::int64_t rows = sp ? M / t : M;
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            op(R, "positions", "embedding", -1, [&] {
                kernels::add_positions(type, R.x, R.positions, rows, h, sp ? R.index * rows : 0, T, R.pos, R.stream);
            });
        }
    }
}

// Normalises the residual rows into hn (gathering the rows under sequence parallelism).
void GpuModel::Impl::normalise(int layer, int T, bool post)
{
    Impl& I = *this;
    const GpuDType type = I.options.dtype;
    const std::int64_t M = std::int64_t(I.batch) * T;
    const std::int64_t h = I.model.hidden;
    const std::int64_t rows = I.sp ? M / I.t : M;
    const bool layer_norm = I.model.norm == NormKind::LayerNorm;
    for (auto& R : I.ranks) {
        DeviceGuard guard(R.device);
        const GpuLayer& L = I.layer_of(R, layer);
        I.op(R, post ? "post_attention_norm" : "input_norm", "norm", layer, [&] {
            kernels::norm(type, I.sp ? R.hn_local : R.hn, R.x, post ? L.post_norm : L.in_norm,
                          post ? L.post_norm_b : L.in_norm_b, layer_norm, rows, h, kNormEps, R.stream);
        });
    }
    if (I.sp) {
        I.collective(CollectiveKind::AllGather, M * h * std::int64_t(element_size(type)), "norm", [&] {
            I.comm->all_gather(each_ptr(I.ranks, [](GpuRank& R) { return R.hn_local; }),
                               each_ptr(I.ranks, [](GpuRank& R) { return R.hn; }), rows * h, type);
        });
    }
    I.check_same(post ? "post-attention norm hn" : "input norm hn", layer, &GpuRank::hn, M * h);
}

// After a row-parallel GEMM into `part` (or straight into x with one rank): reduce over the
// group, add the bias once and the result to the residual stream.
void GpuModel::Impl::reduce_into_residual(std::int64_t M, float* GpuLayer::*bias, int layer, const char* kind, bool reduced)
{
    const GpuDType type = options.dtype;
    const std::int64_t h = model.hidden;
    const std::int64_t e = std::int64_t(element_size(type));
    auto bias_of = [&](GpuRank& R) { return bias ? layer_of(R, layer).*bias : nullptr; };
    if (t == 1) {
        for (auto& R : ranks)
            if (float* b = bias_of(R))
                op(R, "bias", kind, layer, [&] { kernels::add_bias(type, R.x, b, M, h, R.stream); });
        return;
    }
    if (sp) {
        collective(CollectiveKind::ReduceScatter, M * h * e, kind, [&] {
            comm->reduce_scatter(each_ptr(ranks, [](GpuRank& R) { return R.part; }),
                                 each_ptr(ranks, [](GpuRank& R) { return R.reduced; }), M / t * h, type);
        });
    } else if (reduced) {
        // row_parallel has reduced `part` chunk by chunk already.
    } else {
        collective(CollectiveKind::AllReduce, M * h * e, kind,
                   [&] { comm->all_reduce(each_ptr(ranks, [](GpuRank& R) { return R.part; }), M * h, type); });
    }
    const std::int64_t rows = sp ? M / t : M;
    if (!sp)
        check_same(kind, layer, &GpuRank::part, M * h);
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        void* out = sp ? R.reduced : R.part;
        op(R, "residual_add", "residual", layer, [&] {
            if (float* b = bias_of(R))
                kernels::add_bias(type, out, b, rows, h, R.stream);
            kernels::add(type, R.x, out, rows * h, R.stream);
        });
    }
}

bool GpuModel::Impl::row_parallel(int layer, std::int64_t M, std::int64_t K, void* GpuRank::*in, void* GpuLayer::*w,
                                  const char* name, const char* kind, const char* reduce_name,
                                  const std::function<void(GpuRank&)>& fused)
{
    const GpuDType type = options.dtype;
    const std::int64_t h = model.hidden;
    if (!overlap || sp) {
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            const GpuLayer& L = layer_of(R, layer);
            // One rank: the product accumulates straight into the residual stream.
            op(R, name, kind, layer, [&] {
                if (fused)
                    fused(R);
                gemm(R.blas->get(), type, R.*in, L.*w, t == 1 ? R.x : R.part, M, K, h, t == 1 ? 1.0f : 0.0f);
            });
        }
        return false;
    }
    // Chunked: chunk c's all-reduce (communication streams) runs while chunk c + 1
    // multiplies (compute streams). Recorded as the one all-reduce the planner prices.
    const std::int64_t e = std::int64_t(element_size(type));
    const std::int64_t chunks = std::min<std::int64_t>(kOverlapChunks, M);
    const bool measure = timed && !comm->emulated();
    std::vector<std::size_t> op_starts, comm_starts;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op_starts.push_back(op_begin(R));
        if (fused)
            fused(R);
    }
    for (std::int64_t c = 0; c < chunks; ++c) {
        const std::int64_t r0 = c * M / chunks, r1 = (c + 1) * M / chunks;
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            gemm(R.blas->get(), type, static_cast<const char*>(R.*in) + r0 * K * e, layer_of(R, layer).*w,
                 static_cast<char*>(R.part) + r0 * h * e, r1 - r0, K, h);
            R.chunk_ready->record(R.stream);
            SHARD_CUDA_CHECK(cudaStreamWaitEvent(R.comm_stream, R.chunk_ready->get(), 0));
            if (c == 0 && measure) {
                comm_starts.push_back(R.next_event++);
                R.events.at(comm_starts.back()).record(R.comm_stream);
            }
        }
        comm->all_reduce(each_ptr(ranks, [&](GpuRank& R) { return static_cast<void*>(static_cast<char*>(R.part) + r0 * h * e); }),
                         (r1 - r0) * h, type);
    }
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op_end(R, op_starts[std::size_t(R.slot)], name, kind, layer);
        if (measure) {
            const std::size_t end = R.next_event++;
            R.events.at(end).record(R.comm_stream);
            R.pending_collectives.emplace_back(comm_starts[std::size_t(R.slot)], end);
        }
    }
    join_from_comm();
    step_collectives.push_back({CollectiveKind::AllReduce, M * h * e, reduce_name});
    return true;
}

void GpuModel::Impl::attention_block(int layer, int position, int T)
{
    const GpuDType type = options.dtype;
    const int B = batch;
    const std::int64_t M = std::int64_t(B) * T;
    const std::int64_t h = model.hidden;
    const int d = model.head_dim;
    const int ctx_max = options.max_context;
    const std::int64_t e = std::int64_t(element_size(type));
    normalise(layer, T, false);
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        GpuLayer& L = layer_of(R, layer);
        op(R, "qkv_proj", "qkv", layer, [&] {
            gemm(R.blas->get(), type, R.hn, L.wqkv, R.qkv, M, h, W);
            if (L.qkv_bias)
                kernels::add_bias(type, R.qkv, L.qkv_bias, M, W, R.stream);
            if (L.q_norm) {
                kernels::head_norm(type, R.qkv, W, 0, M, heads, d, L.q_norm, kNormEps, R.stream);
                kernels::head_norm(type, R.qkv, W, qw, M, kv_heads, d, L.k_norm, kNormEps, R.stream);
            }
        });
        op(R, "attention", "attention", layer, [&] {
            if (model.position == PositionKind::Rotary) {
                kernels::rotary(type, R.qkv, W, 0, M, heads, d, T, R.pos, R.stream);
                kernels::rotary(type, R.qkv, W, qw, M, kv_heads, d, T, R.pos, R.stream);
            }
            // This microbatch's sequences own the cache rows from first_seq on.
            char* k_cache = static_cast<char*>(L.k_cache) + cache_offset();
            char* v_cache = static_cast<char*>(L.v_cache) + cache_offset();
            kernels::write_cache(type, k_cache, R.qkv, W, qw, B, T, kv_heads, d, ctx_max, R.pos, R.stream);
            kernels::write_cache(type, v_cache, R.qkv, W, qw + kw, B, T, kv_heads, d, ctx_max, R.pos, R.stream);
            if (T == 1) { // decode: split-context kernel, graph-safe (reads *pos)
                kernels::attention(type, R.qkv, W, k_cache, v_cache, R.attn, R.partials, B, 1, heads, kv_heads, d,
                                   ctx_max, R.pos, R.stream);
                return;
            }
            // Prefill: scores and values through cuBLAS, one sequence at a time.
            const int ctx = position + T;
            for (int b = 0; b < B; ++b) {
                const char* q = static_cast<const char*>(R.qkv) + std::int64_t(b) * T * W * e;
                const std::int64_t row_offset = std::int64_t(b) * ctx_max * kw * e;
                attention_scores(R.blas->get(), type, q, W, k_cache + row_offset, R.scores,
                                 heads, kv_heads, d, T, ctx);
                kernels::causal_softmax(type, R.probs, R.scores, heads, T, ctx, position, R.stream);
                attention_values(R.blas->get(), type, R.probs, v_cache + row_offset,
                                 static_cast<char*>(R.attn) + std::int64_t(b) * T * qw * e, heads, kv_heads, d, T, ctx);
            }
        });
    }
    const bool reduced = row_parallel(layer, M, qw, &GpuRank::attn, &GpuLayer::wo, "o_proj", "out_proj", "out_proj", {});
    reduce_into_residual(M, &GpuLayer::o_bias, layer, "out_proj", reduced);
    if (!sp)
        check_same("x after attention", layer, &GpuRank::x, M * h);
}

void GpuModel::Impl::mlp_block(int layer, int T)
{
    const GpuDType type = options.dtype;
    const std::int64_t M = std::int64_t(batch) * T;
    const std::int64_t h = model.hidden;
    const bool gated = model.gated_mlp;
    normalise(layer, T, true);
    // Up-projection and activation, then the row-parallel down-projection, in one op.
    auto up = [&](GpuRank& R) {
        const GpuLayer& L = layer_of(R, layer);
        const std::int64_t width = gated ? 2 * fl : fl;
        gemm(R.blas->get(), type, R.hn, L.wgu, R.gu, M, h, width);
        if (L.gu_bias)
            kernels::add_bias(type, R.gu, L.gu_bias, M, width, R.stream);
        if (gated)
            kernels::gated(type, R.act, R.gu, M, fl, act_of(model.activation), R.stream);
        else
            kernels::activate(type, R.gu, M * fl, act_of(model.activation), R.stream);
    };
    const bool reduced =
        row_parallel(layer, M, fl, gated ? &GpuRank::act : &GpuRank::gu, &GpuLayer::wdown, "mlp", "mlp_up", "mlp_down", up);
    reduce_into_residual(M, &GpuLayer::down_bias, layer, "mlp_down", reduced);
    if (!sp)
        check_same("x after mlp", layer, &GpuRank::x, M * h);
}

void GpuModel::Impl::head(int T)
{
    const GpuDType type = options.dtype;
    const int B = batch;
    const std::int64_t M = std::int64_t(B) * T;
    const std::int64_t h = model.hidden;
    const std::int64_t e = std::int64_t(element_size(type));
    if (sp) {
        collective(CollectiveKind::AllGather, M * h * e, "lm_head", [&] {
            comm->all_gather(each_ptr(ranks, [](GpuRank& R) { return R.x; }),
                             each_ptr(ranks, [](GpuRank& R) { return R.full; }), M / t * h, type);
        });
    }
    const bool layer_norm = model.norm == NormKind::LayerNorm;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op(R, "lm_head", "lm_head", -1, [&] {
            kernels::last_rows(type, R.last, sp ? R.full : R.x, B, T, h, R.stream);
            kernels::norm(type, R.last_n, R.last, R.final_norm, R.final_norm_b, layer_norm, B, h, kNormEps, R.stream);
            gemm(R.blas->get(), type, R.last_n, R.head, R.logits, B, h, vl);
            kernels::argmax_rows(type, R.pairs, R.logits, B, vl, R.vocab_begin, model.vocab, R.stream);
        });
    }
    check_same("last_n", -1, &GpuRank::last_n, B * h);
    if (check_ranks && !capturing && type == GpuDType::F32) {
        // The argmax kernel against a host argmax of the same logits.
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            SHARD_CUDA_CHECK(cudaStreamSynchronize(R.stream));
            std::vector<float> logits(std::size_t(B * vl)), pairs(std::size_t(B * 2));
            SHARD_CUDA_CHECK(cudaMemcpy(logits.data(), R.logits, logits.size() * 4, cudaMemcpyDeviceToHost));
            SHARD_CUDA_CHECK(cudaMemcpy(pairs.data(), R.pairs, pairs.size() * 4, cudaMemcpyDeviceToHost));
            for (int b = 0; b < B; ++b) {
                std::int64_t best = -1;
                for (std::int64_t c = 0; c < vl && R.vocab_begin + c < model.vocab; ++c)
                    if (best < 0 || logits[std::size_t(b * vl + c)] > logits[std::size_t(b * vl + best)])
                        best = c;
                if (best >= 0 && (float(R.vocab_begin + best) != pairs[std::size_t(b * 2 + 1)]
                                  || logits[std::size_t(b * vl + best)] != pairs[std::size_t(b * 2)]))
                    std::fprintf(stderr, "[check] step %d argmax rank %d seq %d: kernel (%g, %g) host (%g, %lld)\n",
                                 ranks[0].log.step, R.index, b, double(pairs[std::size_t(b * 2)]),
                                 double(pairs[std::size_t(b * 2 + 1)]), double(logits[std::size_t(b * vl + best)]),
                                 static_cast<long long>(R.vocab_begin + best));
            }
        }
    }
    if (t == 1) {
        kernels::argmax_pairs(ranks[0].next_tokens + first_seq, ranks[0].pairs, 1, B, ranks[0].stream);
    } else if (plan.strategy.lm_head == LmHeadMode::DistributedArgmax) {
        collective(CollectiveKind::AllGather, std::int64_t(t) * B * 8, "argmax", [&] {
            comm->all_gather(each_ptr(ranks, [](GpuRank& R) { return static_cast<void*>(R.pairs); }),
                             each_ptr(ranks, [](GpuRank& R) { return static_cast<void*>(R.pairs_all); }), B * 2,
                             GpuDType::F32);
        });
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            kernels::argmax_pairs(R.next_tokens + first_seq, R.pairs_all, t, B, R.stream);
        }
    } else {
        collective(CollectiveKind::AllGather, std::int64_t(t) * B * vl * e, "logits", [&] {
            comm->all_gather(each_ptr(ranks, [](GpuRank& R) { return R.logits; }),
                             each_ptr(ranks, [](GpuRank& R) { return R.logits_all; }), B * vl, type);
        });
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            for (int part = 0; part < t; ++part)
                kernels::argmax_rows(type, R.pairs_all + std::int64_t(part) * B * 2,
                                     static_cast<const char*>(R.logits_all) + std::int64_t(part) * B * vl * e, B, vl,
                                     std::int64_t(part) * vl, model.vocab, R.stream);
            kernels::argmax_pairs(R.next_tokens + first_seq, R.pairs_all, t, B, R.stream);
        }
    }
    // Rank 0 hands the final hidden states and the tokens of the microbatch to the host
    // (where another thread or process runs it, that one does).
    GpuRank* rank0 = find(0);
    if (!rank0)
        return;
    GpuRank& R0 = *rank0;
    DeviceGuard guard(R0.device);
    kernels::convert_to_f32(type, R0.last_f32, R0.last_n, B * h, R0.stream);
    SHARD_CUDA_CHECK(cudaMemcpyAsync(static_cast<float*>(host_hidden.data()) + std::int64_t(first_seq) * h, R0.last_f32,
                                     std::size_t(B * h) * sizeof(float), cudaMemcpyDeviceToHost, R0.stream));
    SHARD_CUDA_CHECK(cudaMemcpyAsync(static_cast<int*>(host_tokens.data()) + first_seq, R0.next_tokens + first_seq,
                                     std::size_t(B) * sizeof(int), cudaMemcpyDeviceToHost, R0.stream));
}

} // namespace shard::cuda
