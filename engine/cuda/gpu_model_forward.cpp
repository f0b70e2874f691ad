// GpuModel's forward pass: each op is enqueued for every rank before the next, and the
// collectives sit between them exactly where the CPU ShardedModel (Megatron branch) and the
// planner's StepBuilder put them.
#include "gpu_model_impl.h"

#include "gpu_blas.h"
#include "kernels.h"

#include <cstdio>

namespace shard::cuda {

void GpuModel::Impl::forward(int position, int T)
{
    if (grid) {
        grid_forward(position, T);
        return;
    }
    if (first_stage)
        embed(T); // later stages find the previous stage's activations in x
    for (int l = first_layer; l < first_layer + layer_count; ++l) {
        attention_block(l, position, T);
        if (model.is_moe_layer(l) && ep > 1)
            moe_block_ep(l, T);
        else if (model.is_moe_layer(l))
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
                          post ? L.post_norm_b : L.in_norm_b, layer_norm, rows, h, float(kNormEps), R.stream);
        });
    }
    if (I.data && !post)
        return; // attention DP: each rank attends the rows it holds
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
void GpuModel::Impl::reduce_into_residual(std::int64_t M, float* GpuLayer::*bias, int layer, const char* kind,
                                          bool reduced)
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

void GpuModel::Impl::attention_block(int layer, int position, int T)
{
    const GpuDType type = options.dtype;
    const int B = batch;
    const std::int64_t M = std::int64_t(B) * T;
    const std::int64_t h = model.hidden;
    const int d = model.head_dim;
    const std::int64_t e = std::int64_t(element_size(type));
    normalise(layer, T, false);
    // Attention DP: this rank's 1/t of the sequences (the rows it holds), every head.
    const int Bq = data ? B / t : B;
    const std::int64_t Mq = std::int64_t(Bq) * T;
    // q | k | v of this rank's heads; row: partial sums of every head over this rank's
    // slice of the hidden columns, summed over the group before the bias and the norms.
    auto bias_and_norms = [&](GpuRank& R, const GpuLayer& L) {
        if (L.qkv_bias)
            kernels::add_bias(type, R.qkv, L.qkv_bias, Mq, W, R.stream);
        if (L.q_norm) {
            kernels::head_norm(type, R.qkv, W, 0, Mq, heads, d, L.q_norm, float(kNormEps), R.stream);
            kernels::head_norm(type, R.qkv, W, qw, Mq, kv_heads, d, L.k_norm, float(kNormEps), R.stream);
        }
    };
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        const GpuLayer& L = layer_of(R, layer);
        op(R, "qkv_proj", "qkv", layer, [&] {
            if (row) {
                gemm(R.blas->get(), type, static_cast<const char*>(R.hn) + R.index * (h / t) * e, L.wqkv, R.qkv, M,
                     h / t, W, 0.0f, h);
                return;
            }
            gemm(R.blas->get(), type, data ? R.hn_local : R.hn, L.wqkv, R.qkv, Mq, h, W);
            bias_and_norms(R, L);
        });
    }
    if (row) {
        collective(CollectiveKind::AllReduce, M * W * e, "qkv_proj",
                   [&] { comm->all_reduce(each_ptr(ranks, [](GpuRank& R) { return R.qkv; }), M * W, type); });
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            op(R, "qkv_bias_norm", "qkv", layer, [&] { bias_and_norms(R, layer_of(R, layer)); });
        }
    }
    attend(layer, position, T, Bq);
    out_projection(layer, M);
    if (!sp && !moe_shards_rows(layer))
        check_same("x after attention", layer, &GpuRank::x, M * h);
}

void GpuModel::Impl::attend(int layer, int position, int T, int Bq)
{
    const GpuDType type = options.dtype;
    const int d = model.head_dim;
    const int ctx_max = options.max_context;
    const std::int64_t e = std::int64_t(element_size(type));
    const std::int64_t Mq = std::int64_t(Bq) * T;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        GpuLayer& L = layer_of(R, layer);
        op(R, "attention", "attention", layer, [&] {
            if (model.position == PositionKind::Rotary) {
                kernels::rotary(type, R.qkv, W, 0, Mq, heads, d, T, R.pos, R.stream);
                kernels::rotary(type, R.qkv, W, qw, Mq, kv_heads, d, T, R.pos, R.stream);
            }
            // This microbatch's sequences own the cache rows from first_seq on.
            char* k_cache = static_cast<char*>(L.k_cache) + cache_offset(R);
            char* v_cache = static_cast<char*>(L.v_cache) + cache_offset(R);
            kernels::write_cache(type, k_cache, R.qkv, W, qw, Bq, T, kv_heads, d, ctx_max, R.pos, R.stream);
            kernels::write_cache(type, v_cache, R.qkv, W, qw + kw, Bq, T, kv_heads, d, ctx_max, R.pos, R.stream);
            if (T == 1) { // decode: split-context kernel, graph-safe (reads *pos)
                kernels::attention(type, R.qkv, W, k_cache, v_cache, R.attn, R.partials, Bq, 1, heads, kv_heads, d,
                                   ctx_max, R.pos, R.stream);
                return;
            }
            // Prefill: scores and values through cuBLAS, one sequence at a time.
            const int ctx = position + T;
            for (int b = 0; b < Bq; ++b) {
                const char* q = static_cast<const char*>(R.qkv) + std::int64_t(b) * T * W * e;
                const std::int64_t row_offset = std::int64_t(b) * ctx_max * kw * e;
                attention_scores(R.blas->get(), type, q, W, k_cache + row_offset, R.scores, heads, kv_heads, d, T, ctx);
                kernels::causal_softmax(type, R.probs, R.scores, heads, T, ctx, position, R.stream);
                attention_values(R.blas->get(), type, R.probs, v_cache + row_offset,
                                 static_cast<char*>(R.attn) + std::int64_t(b) * T * qw * e, heads, kv_heads, d, T, ctx);
            }
        });
    }
}

void GpuModel::Impl::mlp_block(int layer, int T)
{
    const GpuDType type = options.dtype;
    const std::int64_t M = std::int64_t(batch) * T;
    const std::int64_t h = model.hidden;
    const std::int64_t e = std::int64_t(element_size(type));
    const bool gated = model.gated_mlp;
    normalise(layer, T, true);
    // Up-projection and activation (row: of this rank's slice of the hidden columns, summed
    // over the group first).
    auto activate_rows = [&](GpuRank& R) {
        const GpuLayer& L = layer_of(R, layer);
        const std::int64_t width = gated ? 2 * fl : fl;
        if (L.gu_bias)
            kernels::add_bias(type, R.gu, L.gu_bias, M, width, R.stream);
        if (gated)
            kernels::gated(type, R.act, R.gu, M, fl, act_of(model.activation), R.stream);
        else
            kernels::activate(type, R.gu, M * fl, act_of(model.activation), R.stream);
    };
    auto up = [&](GpuRank& R) {
        const std::int64_t width = gated ? 2 * fl : fl;
        if (row) {
            gemm(R.blas->get(), type, static_cast<const char*>(R.hn) + R.index * (h / t) * e, layer_of(R, layer).wgu,
                 R.gu, M, h / t, width, 0.0f, h);
            return;
        }
        gemm(R.blas->get(), type, R.hn, layer_of(R, layer).wgu, R.gu, M, h, width);
        activate_rows(R);
    };
    void* GpuRank::*activations = gated ? &GpuRank::act : &GpuRank::gu;
    if (column) {
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            op(R, "mlp", "mlp_up", layer, [&] { up(R); });
        }
        column_parallel(layer, M, fl, activations, &GpuLayer::wdown, &GpuLayer::down_bias, "down_proj", "mlp_down",
                        "mlp_hidden", "down_proj");
        add_residual(layer, M);
    } else if (row) {
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            op(R, "mlp", "mlp_up", layer, [&] { up(R); });
        }
        const std::int64_t width = (gated ? 2 : 1) * fl;
        collective(CollectiveKind::AllReduce, M * width * e, "gate_up_proj",
                   [&] { comm->all_reduce(each_ptr(ranks, [](GpuRank& R) { return R.gu; }), M * width, type); });
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            op(R, "activation", "activation", layer, [&] { activate_rows(R); });
            // This rank's slice of the activation columns times its rows of the down weight.
            op(R, "down_proj", "mlp_down", layer, [&] {
                gemm(R.blas->get(), type, static_cast<const char*>(R.*activations) + R.index * fd * e,
                     layer_of(R, layer).wdown, R.part, M, fd, h, 0.0f, fl);
            });
        }
        reduce_into_residual(M, &GpuLayer::down_bias, layer, "mlp_down");
    } else {
        // Megatron: up, activation and the row-parallel down-projection in one op.
        const bool reduced = row_parallel(layer, M, fl, activations, &GpuLayer::wdown, "mlp", "mlp_up", "mlp_down", up);
        reduce_into_residual(M, &GpuLayer::down_bias, layer, "mlp_down", reduced);
    }
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
    if (grid) {
        grid_gather_last(T);
    } else if (data) {
        // Attention DP: each rank holds whole sequences; only their last rows are gathered.
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            op(R, "gather_last", "lm_head", -1, [&] { kernels::last_rows(type, R.hn, R.x, B / t, T, h, R.stream); });
        }
        collective(CollectiveKind::AllGather, std::int64_t(B) * h * e, "final_hidden", [&] {
            comm->all_gather(each_ptr(ranks, [](GpuRank& R) { return R.hn; }),
                             each_ptr(ranks, [](GpuRank& R) { return R.last; }), std::int64_t(B / t) * h, type);
        });
    } else if (sp) {
        collective(CollectiveKind::AllGather, M * h * e, "lm_head", [&] {
            comm->all_gather(each_ptr(ranks, [](GpuRank& R) { return R.x; }),
                             each_ptr(ranks, [](GpuRank& R) { return R.full; }), M / t * h, type);
        });
    }
    const bool layer_norm = model.norm == NormKind::LayerNorm;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op(R, "lm_head", "lm_head", -1, [&] {
            if (!data && !grid)
                kernels::last_rows(type, R.last, sp ? R.full : R.x, B, T, h, R.stream);
            kernels::norm(type, R.last_n, R.last, R.final_norm, R.final_norm_b, layer_norm, B, h, float(kNormEps),
                          R.stream);
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
                if (best >= 0
                    && (float(R.vocab_begin + best) != pairs[std::size_t(b * 2 + 1)]
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
