#include "replica_sim.h"

#include "prefix_cache.h"

#include "core/error.h"

#include <algorithm>
#include <deque>

namespace shard::serving {

void SchedulerLimits::validate() const
{
    if (max_seqs < 1)
        throw Error("max_seqs must be at least 1, got " + std::to_string(max_seqs));
    if (max_batched_tokens < 1)
        throw Error("max_batched_tokens must be at least 1, got " + std::to_string(max_batched_tokens));
    if (block_size < 1)
        throw Error("the KV block size must be at least 1 token, got " + std::to_string(block_size));
    if (kv_blocks < 1)
        throw Error("the replica has no KV-cache blocks (" + std::to_string(kv_blocks) + ")");
}

namespace {

struct Sequence {
    std::size_t index = 0; // into the requests
    std::int64_t computed = 0; // tokens with KV in the cache
    std::int64_t target = 0; // tokens to prefill before the next token (prompt + output so far)
    int generated = 0;
    std::int64_t blocks = 0; // its own
    std::int64_t shared = 0; // read from the prefix cache
    std::int64_t publish = 0; // blocks of its prefix it hands the cache once computed
    bool prefilling() const { return computed < target; }
    std::int64_t held() const { return blocks + shared; }
};

std::int64_t blocks_for(std::int64_t tokens, int block_size)
{
    return (tokens + block_size - 1) / block_size;
}

} // namespace

ReplicaRun simulate_replica(const std::vector<Request>& requests, const SchedulerLimits& limits,
                            const StepTimeModel& step_time, std::optional<int> users)
{
    limits.validate();
    ReplicaRun run;
    run.requests.resize(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
        RequestResult& r = run.requests[i];
        r.id = requests[i].id;
        r.arrival_s = requests[i].arrival_s;
        r.prompt = requests[i].prompt;
        r.output = requests[i].output;
    }
    if (requests.empty())
        return run;
    if (users && *users < 1)
        throw Error("a closed loop needs at least one user, got " + std::to_string(*users));
    for (std::size_t i = 1; i < requests.size(); ++i)
        if (!users && requests[i].arrival_s < requests[i - 1].arrival_s)
            throw Error("the requests must be sorted by arrival");

    std::deque<std::size_t> waiting; // arrived, in the order they are served
    std::deque<std::size_t> preempted; // served before anything that is waiting
    std::vector<Sequence> running;
    std::vector<Sequence> parked(requests.size()); // a preempted request's progress
    std::size_t next = 0; // the next request to arrive
    std::size_t released = users ? std::min<std::size_t>(std::size_t(*users), requests.size()) : requests.size();
    if (users)
        for (std::size_t i = 0; i < released; ++i)
            run.requests[i].arrival_s = 0;
    std::int64_t free_blocks = limits.kv_blocks;
    double t = 0;
    PrefixCache cache;
    // Free blocks for `needed`, from idle cached prefixes if there are not enough.
    auto make_room = [&](std::int64_t needed) {
        if (free_blocks < needed)
            free_blocks += cache.evict(needed - free_blocks);
        return free_blocks >= needed;
    };
    auto release = [&](Sequence& s, double when) {
        free_blocks += s.blocks;
        s.blocks = 0;
        if (s.shared > 0)
            cache.release(requests[s.index].prefix, when);
        s.shared = 0;
    };
    // A request's full blocks of its shared prefix (the last prompt token is always computed,
    // to give the first output token), and how many the cache already holds.
    auto admit_with_prefix = [&](Sequence& s) {
        const Request& q = requests[s.index];
        s.publish = 0;
        if (!limits.prefix_caching || q.prefix.empty())
            return;
        const std::int64_t full = std::min(q.prefix_tokens, q.prompt - 1) / limits.block_size;
        s.shared = cache.acquire(q.prefix, full, t);
        s.computed = s.shared * limits.block_size;
        s.publish = s.shared > 0 ? 0 : full;
        run.requests[s.index].cached_tokens = int(s.computed);
        run.prefix_hit_tokens += s.computed;
    };
    std::size_t finished = 0;
    double in_system_area = 0; // integral of the requests in the replica over time
    int in_system = 0;
    double area_from = 0;
    auto account = [&](double until) {
        in_system_area += in_system * (until - area_from);
        area_from = until;
    };
    auto arrive_until = [&](double until) {
        while (next < released && run.requests[next].arrival_s <= until) {
            account(run.requests[next].arrival_s);
            ++in_system;
            waiting.push_back(next++);
        }
    };
    auto finish = [&](std::size_t index, double when) {
        RequestResult& r = run.requests[index];
        r.finish_s = when;
        ++finished;
        account(when);
        --in_system;
        if (users && released < requests.size()) {
            run.requests[released].arrival_s = when; // the user sends the next one
            ++released;
        }
    };
    const double first_arrival = run.requests.front().arrival_s;
    t = first_arrival;
    area_from = first_arrival;

    while (finished < requests.size()) {
        arrive_until(t);
        if (running.empty() && waiting.empty() && preempted.empty()) {
            if (next >= released)
                throw Error("the replica ran out of requests before finishing them all");
            t = run.requests[next].arrival_s; // idle until the next arrival
            continue;
        }
        // Requests whose KV cache arrived with them join before the decodes, to decode at once.
        while (preempted.empty() && !waiting.empty() && requests[waiting.front()].prefilled
               && int(running.size()) < limits.max_seqs) {
            const std::size_t index = waiting.front();
            const RequestResult& r = run.requests[index];
            const std::int64_t blocks = blocks_for(r.prompt, limits.block_size);
            if (blocks_for(std::int64_t(r.prompt) + r.output, limits.block_size) > limits.kv_blocks) {
                waiting.pop_front();
                run.requests[index].rejected = true;
                run.requests[index].first_token_s = t;
                finish(index, t);
                continue;
            }
            if (!make_room(blocks))
                break;
            waiting.pop_front();
            run.requests[index].first_token_s = t;
            if (r.output <= 1) {
                finish(index, t);
                continue;
            }
            free_blocks -= blocks;
            running.push_back({index, r.prompt, r.prompt, 1, blocks});
        }
        std::int64_t budget = limits.max_batched_tokens;
        StepBatch batch;
        std::vector<std::pair<std::size_t, std::int64_t>> chunks; // running position, tokens
        // Decodes first, each needing room for one more token; preempt from the back.
        for (std::size_t i = 0; i < running.size() && budget > 0; ++i) {
            Sequence& s = running[i];
            if (s.prefilling())
                continue;
            while (blocks_for(s.computed + 1, limits.block_size) > s.held() && !make_room(1)) {
                Sequence victim = running.back();
                running.pop_back();
                release(victim, t);
                victim.computed = 0;
                victim.target = run.requests[victim.index].prompt + victim.generated;
                ++run.requests[victim.index].preemptions;
                ++run.preemptions;
                parked[victim.index] = victim;
                preempted.push_front(victim.index);
                if (i >= running.size())
                    break; // it preempted itself
            }
            if (i >= running.size())
                break;
            if (blocks_for(s.computed + 1, limits.block_size) > s.held()) {
                --free_blocks;
                ++s.blocks;
            }
            chunks.push_back({i, 1});
            --budget;
            ++batch.decode_seqs;
            batch.decode_context += s.computed + 1;
        }
        // Prefill chunks of running requests, then new and preempted ones.
        auto take_chunk = [&](Sequence& s, std::size_t position) {
            std::int64_t chunk = std::min(s.target - s.computed, budget);
            if (!limits.chunked_prefill && chunk < s.target - s.computed)
                return false;
            make_room(blocks_for(s.computed + chunk, limits.block_size) - s.held());
            const std::int64_t room = (s.held() + free_blocks) * limits.block_size - s.computed;
            chunk = std::min(chunk, room);
            if (chunk <= 0 || (!limits.chunked_prefill && chunk < s.target - s.computed))
                return false;
            const std::int64_t blocks = blocks_for(s.computed + chunk, limits.block_size) - s.held();
            free_blocks -= blocks;
            s.blocks += blocks;
            budget -= chunk;
            batch.prefill_tokens += chunk;
            chunks.push_back({position, chunk});
            return true;
        };
        for (std::size_t i = 0; i < running.size() && budget > 0; ++i)
            if (running[i].prefilling())
                take_chunk(running[i], i);
        while (budget > 0 && int(running.size()) < limits.max_seqs && (!preempted.empty() || !waiting.empty())) {
            const bool again = !preempted.empty();
            const std::size_t index = again ? preempted.front() : waiting.front();
            const RequestResult& r = run.requests[index];
            if (blocks_for(std::int64_t(r.prompt) + r.output, limits.block_size) > limits.kv_blocks) {
                // It could never hold its whole context: refused, never silently dropped.
                (again ? preempted : waiting).pop_front();
                run.requests[index].rejected = true;
                run.requests[index].first_token_s = t;
                finish(index, t);
                continue;
            }
            Sequence s = again ? parked[index] : Sequence{index, 0, r.prompt, 0, 0};
            const std::int64_t hits_before = run.prefix_hit_tokens;
            admit_with_prefix(s);
            running.push_back(s);
            if (!take_chunk(running.back(), running.size() - 1)) {
                release(running.back(), t);
                running.pop_back();
                run.prefix_hit_tokens = hits_before;
                break; // no room for it this step: it waits, and so does everything after it
            }
            (again ? preempted : waiting).pop_front();
        }
        if (chunks.empty()) {
            if (running.empty() && waiting.empty() && preempted.empty())
                continue; // only refusals this step: wait for the next arrival
            // Something waits and nothing can run: with the refusals above this cannot
            // happen; say so rather than spin.
            throw Error("the replica cannot schedule anything: its KV cache is too small for the waiting requests");
        }
        const double ms = step_time.ms(batch);
        run.steps.push_back({t, ms, int(waiting.size() + preempted.size()), int(running.size()),
                             limits.kv_blocks - free_blocks, batch.prefill_tokens + batch.decode_seqs});
        run.peak_kv_blocks = std::max(run.peak_kv_blocks, limits.kv_blocks - free_blocks);
        const double end = t + ms / 1000.0;
        arrive_until(end); // they queue while the step runs
        run.prefill_tokens += batch.prefill_tokens;
        std::vector<std::size_t> done;
        for (const auto& [position, tokens] : chunks) {
            Sequence& s = running[position];
            RequestResult& r = run.requests[s.index];
            const bool was_prefilling = s.prefilling();
            s.computed += tokens;
            if (s.publish > 0 && s.computed >= s.publish * limits.block_size) {
                if (cache.publish(requests[s.index].prefix, s.publish, end)) {
                    s.blocks -= s.publish;
                    s.shared = s.publish;
                }
                s.publish = 0;
            }
            if (was_prefilling && s.prefilling())
                continue; // more chunks to go
            // A finished prefill or a decode produces the next token.
            if (s.generated == 0)
                r.first_token_s = end;
            ++s.generated;
            ++run.generated_tokens;
            s.target = s.computed;
            if (s.generated >= r.output)
                done.push_back(position);
        }
        std::sort(done.rbegin(), done.rend());
        for (const std::size_t position : done) {
            release(running[position], end);
            finish(running[position].index, end);
            running.erase(running.begin() + std::ptrdiff_t(position));
        }
        t = end;
    }
    run.end_s = t;
    for (const auto& r : run.requests)
        run.end_s = std::max(run.end_s, r.finish_s);
    account(run.end_s);
    const double span = run.end_s - first_arrival;
    run.mean_in_system = span > 0 ? in_system_area / span : 0;
    return run;
}

} // namespace shard::serving
