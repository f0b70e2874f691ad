// The serving simulator against what queueing theory and bookkeeping say it must do: the
// M/D/1 queue's mean wait, Little's law, a saturated replica's step rate, no request or
// token lost, the KV cache never overfull, replays identical; traffic generation and trace
// files; step times from the cost model.
#include "serving/deployment_search.h"
#include "serving/disaggregated.h"
#include "serving/launch_export.h"
#include "serving/replica_sim.h"
#include "serving/serving_metrics.h"
#include "serving/step_time.h"
#include "serving/traffic.h"

#include "core/presets.h"
#include "core/strategy.h"
#include "cost/estimate.h"

#include "cli_runner.h"
#include "test_support.h"

#include <QtTest>

#include <QJsonArray>
#include <QJsonObject>

#include <cmath>
#include <numeric>

using namespace shard;
using namespace shard::serving;
using shard::test::errorOf;

namespace {

// Poisson arrivals at `rate`, every request one prompt step and one output token: each is
// served in exactly one step of `step_ms` (an M/D/1 queue with one server).
std::vector<Request> singleStepRequests(double rate, int count, std::uint64_t seed = 7)
{
    TrafficSpec spec;
    spec.arrivals.rate = rate;
    spec.prompt = LengthDistribution::fixed(64);
    spec.output = LengthDistribution::fixed(1);
    spec.requests = count;
    spec.seed = seed;
    return generate_requests(spec);
}

SchedulerLimits oneAtATime()
{
    SchedulerLimits limits;
    limits.max_seqs = 1;
    limits.max_batched_tokens = 64;
    limits.kv_blocks = 1000;
    return limits;
}

double meanWaitMs(const ReplicaRun& run, double step_ms)
{
    double sum = 0;
    for (const auto& r : run.requests)
        sum += r.ttft_ms() - step_ms;
    return sum / double(run.requests.size());
}

} // namespace

class TestServing : public QObject {
    Q_OBJECT

private slots:
    void fixedStepsReproduceTheMD1MeanWait_data()
    {
        QTest::addColumn<double>("load");
        QTest::addRow("low load 0.3") << 0.3;
        QTest::addRow("high load 0.85") << 0.85;
    }

    void fixedStepsReproduceTheMD1MeanWait()
    {
        QFETCH(double, load);
        const double step_ms = 10;
        const double rate = load / (step_ms / 1000.0);
        const FixedStepTime steps(step_ms);
        const ReplicaRun run = simulate_replica(singleStepRequests(rate, 200000), oneAtATime(), steps);
        // Pollaczek-Khinchine for deterministic service: Wq = rho D / (2 (1 - rho)).
        const double theory = load * step_ms / (2 * (1 - load));
        const double simulated = meanWaitMs(run, step_ms);
        QVERIFY2(std::abs(simulated - theory) < 0.05 * theory,
                 qPrintable(QStringLiteral("simulated %1 ms, M/D/1 %2 ms").arg(simulated).arg(theory)));
    }

    void littlesLawHolds()
    {
        // A batching replica: lengths vary, steps take longer with more tokens.
        TrafficSpec spec;
        spec.arrivals.rate = 40;
        spec.prompt = LengthDistribution::uniform(100, 900);
        spec.output = LengthDistribution::lognormal(60, 120);
        spec.requests = 20000;
        SchedulerLimits limits;
        limits.max_seqs = 32;
        limits.max_batched_tokens = 2048;
        limits.kv_blocks = 4000;
        struct Linear final : StepTimeModel {
            double ms(const StepBatch& b) const override
            {
                return 4.0 + 0.01 * double(b.prefill_tokens) + 0.05 * b.decode_seqs;
            }
        } steps;
        const auto requests = generate_requests(spec);
        const ReplicaRun run = simulate_replica(requests, limits, steps);
        double e2e = 0;
        for (const auto& r : run.requests)
            e2e += r.e2e_s();
        const double span = run.end_s - requests.front().arrival_s;
        const double lambda = double(requests.size()) / span;
        const double littles = lambda * e2e / double(requests.size());
        QVERIFY2(std::abs(run.mean_in_system - littles) < 1e-6 * littles,
                 qPrintable(QStringLiteral("L %1, lambda W %2").arg(run.mean_in_system).arg(littles)));
        // And from the replica's own state at each step, weighted by the step's length.
        double weighted = 0, busy = 0;
        for (const Sample& s : run.steps) {
            weighted += (s.queued + s.running) * s.step_ms;
            busy += s.step_ms;
        }
        const double sampled = weighted / 1000.0 / span; // idle time counts as empty
        QVERIFY2(std::abs(sampled - littles) < 0.1 * littles,
                 qPrintable(QStringLiteral("sampled L %1, lambda W %2").arg(sampled).arg(littles)));
        QVERIFY(busy / 1000.0 <= span);
    }

    void aSaturatedReplicaRunsAtItsStepRate()
    {
        // Everything arrives at once: N one-step requests finish at N steps, exactly.
        std::vector<Request> burst(500);
        for (std::size_t i = 0; i < burst.size(); ++i)
            burst[i] = {std::int64_t(i), 0.0, 64, 1, {}};
        const FixedStepTime steps(2.5);
        const ReplicaRun run = simulate_replica(burst, oneAtATime(), steps);
        QCOMPARE(run.end_s, 500 * 0.0025);
        QCOMPARE(run.steps.size(), std::size_t(500));
        // Batched decode: 64 requests of 1 + 99 decode steps each, 64 at a time, take
        // 100 steps per wave of 64.
        std::vector<Request> wave(128);
        for (std::size_t i = 0; i < wave.size(); ++i)
            wave[i] = {std::int64_t(i), 0.0, 16, 100, {}};
        SchedulerLimits limits;
        limits.max_seqs = 64;
        limits.max_batched_tokens = 64 * 16;
        limits.kv_blocks = 100000;
        const ReplicaRun batched = simulate_replica(wave, limits, steps);
        QCOMPARE(batched.steps.size(), std::size_t(200));
        QCOMPARE(batched.generated_tokens, std::int64_t(128 * 100));
        const ServingSummary s = summarize(batched, {}, limits.kv_blocks);
        QCOMPARE(s.output_tokens_per_s, 128 * 100 / (200 * 0.0025));
        QCOMPARE(s.tpot_ms.p50, 2.5);
    }

    void nothingIsLostAndTheCacheNeverOverflows()
    {
        TrafficSpec spec;
        spec.arrivals.rate = 200; // far past what the replica serves: it preempts
        spec.prompt = LengthDistribution::uniform(200, 1200);
        spec.output = LengthDistribution::uniform(50, 400);
        spec.requests = 3000;
        SchedulerLimits limits;
        limits.max_seqs = 64;
        limits.max_batched_tokens = 4096;
        limits.kv_blocks = 1500; // 24,000 tokens: a fraction of 64 full contexts
        const FixedStepTime steps(5);
        const auto requests = generate_requests(spec);
        const ReplicaRun run = simulate_replica(requests, limits, steps);
        QVERIFY(run.preemptions > 0);
        QVERIFY(run.peak_kv_blocks <= limits.kv_blocks);
        for (const Sample& s : run.steps)
            QVERIFY(s.kv_blocks_used <= limits.kv_blocks && s.running <= limits.max_seqs
                    && s.batched_tokens <= limits.max_batched_tokens);
        std::int64_t output = 0, prompt = 0;
        for (std::size_t i = 0; i < requests.size(); ++i) {
            const RequestResult& r = run.requests[i];
            QVERIFY(!r.rejected);
            QVERIFY(r.first_token_s > r.arrival_s && r.finish_s >= r.first_token_s);
            output += r.output;
            prompt += r.prompt;
        }
        QCOMPARE(run.generated_tokens, output);
        QVERIFY(run.prefill_tokens > prompt); // the preempted were recomputed
        // A request that cannot fit even alone is refused, named, and counted.
        std::vector<Request> huge = {{0, 0.0, 30000, 10, {}}, {1, 0.1, 100, 10, {}}};
        const ReplicaRun refused = simulate_replica(huge, limits, steps);
        QVERIFY(refused.requests[0].rejected);
        QVERIFY(!refused.requests[1].rejected);
        const ServingSummary s = summarize(refused, {}, limits.kv_blocks);
        QCOMPARE(s.rejected, 1);
        QVERIFY(!s.meets_slo);
        QCOMPARE(QString::fromStdString(s.failing.back()), QStringLiteral("1 requests too long for the KV cache"));
    }

    void replaysAreBitIdentical()
    {
        TrafficSpec spec;
        spec.arrivals.kind = Arrivals::Kind::Gamma;
        spec.arrivals.rate = 30;
        spec.arrivals.burstiness = 3;
        spec.prompt = LengthDistribution::lognormal(800, 1600);
        spec.output = LengthDistribution::lognormal(150, 300);
        spec.requests = 5000;
        spec.seed = 42;
        SchedulerLimits limits;
        limits.kv_blocks = 3000;
        const FixedStepTime steps(8);
        const ReplicaRun a = simulate_replica(generate_requests(spec), limits, steps);
        const ReplicaRun b = simulate_replica(generate_requests(spec), limits, steps);
        QCOMPARE(a.requests.size(), b.requests.size());
        for (std::size_t i = 0; i < a.requests.size(); ++i) {
            QCOMPARE(a.requests[i].first_token_s, b.requests[i].first_token_s);
            QCOMPARE(a.requests[i].finish_s, b.requests[i].finish_s);
        }
        QCOMPARE(a.steps.size(), b.steps.size());
        spec.seed = 43;
        QVERIFY(generate_requests(spec)[0].prompt
                != generate_requests({spec.arrivals, spec.prompt, spec.output, spec.requests, 42})[0].prompt);
    }

    void aClosedLoopKeepsItsUsersBusy()
    {
        std::vector<Request> requests(40);
        for (std::size_t i = 0; i < requests.size(); ++i)
            requests[i] = {std::int64_t(i), 0.0, 64, 1, {}};
        const FixedStepTime steps(10);
        // Four users, one request each at a time, one at a time served: 40 steps back to back.
        const ReplicaRun run = simulate_replica(requests, oneAtATime(), steps, 4);
        QCOMPARE(run.end_s, 40 * 0.010);
        QCOMPARE(run.requests[4].arrival_s, run.requests[0].finish_s); // the first user's second request
        QCOMPARE(errorOf([&] { simulate_replica(requests, oneAtATime(), steps, 0); }),
                 QStringLiteral("a closed loop needs at least one user, got 0"));
    }

    void trafficFollowsItsDistributions()
    {
        TrafficSpec spec;
        spec.arrivals.rate = 50;
        spec.prompt = LengthDistribution::lognormal(1000, 2000);
        spec.output = LengthDistribution::uniform(10, 30);
        spec.requests = 50000;
        const auto requests = generate_requests(spec);
        std::vector<double> prompts, gaps;
        for (std::size_t i = 0; i < requests.size(); ++i) {
            prompts.push_back(requests[i].prompt);
            gaps.push_back(requests[i].arrival_s - (i ? requests[i - 1].arrival_s : 0.0));
            QVERIFY(requests[i].output >= 10 && requests[i].output <= 30);
        }
        const double mean = std::accumulate(prompts.begin(), prompts.end(), 0.0) / prompts.size();
        QVERIFY2(std::abs(mean - 1000) < 20, qPrintable(QString::number(mean)));
        QVERIFY2(std::abs(percentile(prompts, 90) - 2000) < 40, qPrintable(QString::number(percentile(prompts, 90))));
        const double gap = std::accumulate(gaps.begin(), gaps.end(), 0.0) / gaps.size();
        QVERIFY2(std::abs(gap - 0.02) < 0.0005, qPrintable(QString::number(gap)));
        QCOMPARE(LengthDistribution::parse("lognormal:1000,p90=2000").kind, LengthDistribution::Kind::Lognormal);
        QCOMPARE(LengthDistribution::parse("uniform:5-9").b, 9.0);
        QCOMPARE(LengthDistribution::parse("512").a, 512.0);
        QCOMPARE(errorOf([] { LengthDistribution::parse("lognormal:100,p90=500").validate("prompt"); }),
                 QStringLiteral("prompt length: a lognormal with mean 100 needs a p90 from 1 to 227, got 500"));
        QCOMPARE(errorOf([] { LengthDistribution::parse("many"); }),
                 QStringLiteral("length 'many' (a token count, uniform:LOW-HIGH or lognormal:MEAN,p90=P90): 'many' is "
                                "not a number"));
    }

    void tracesAreReadAndBadRowsNamed()
    {
        const auto requests = parse_trace_csv(
            "arrival_s,prompt_tokens,output_tokens,prefix_id\n0.5,100,20,a\n0.1,300,5,\n\n2.0,50,1,a\n", "t.csv");
        QCOMPARE(requests.size(), std::size_t(3));
        QCOMPARE(requests[0].arrival_s, 0.1); // sorted
        QCOMPARE(requests[0].prompt, 300);
        QCOMPARE(requests[1].prefix, std::string("a"));
        QCOMPARE(requests[2].id, std::int64_t(2));
        QCOMPARE(errorOf([] { parse_trace_csv("arrival_s,prompt_tokens,output_tokens\n0.1,10,x\n", "t.csv"); }),
                 QStringLiteral("t.csv line 2, output_tokens: 'x' is not a number"));
        QCOMPARE(errorOf([] { parse_trace_csv("arrival_s,prompt_tokens,output_tokens\n0.1,10\n", "t.csv"); }),
                 QStringLiteral("t.csv line 2: 2 cells where the header has 3"));
        QCOMPARE(errorOf([] { parse_trace_csv("arrival,prompt\n1,2\n", "t.csv"); }),
                 QStringLiteral("t.csv line 1: the header must name arrival_s, prompt_tokens and output_tokens "
                                "(prefix_id and prefix_tokens are optional)"));
        QCOMPARE(errorOf([] { parse_trace_csv("arrival_s,prompt_tokens,output_tokens\n0.1,0,4\n", "t.csv"); }),
                 QStringLiteral("t.csv line 2: prompt_tokens and output_tokens must be whole numbers from 1, got 0 "
                                "and 4"));
        QCOMPARE(errorOf([] { parse_trace_csv("", "t.csv"); }), QStringLiteral("t.csv: the trace is empty"));
    }

    void theSearchPutsTheSloFirstAndFindsTheFewestGpus()
    {
        const auto& presets = PresetLibrary::instance();
        const ModelSpec model = presets.model("llama-3.1-8b");
        const Topology topology = presets.topology("dgx-h100");
        TrafficSpec traffic;
        traffic.arrivals.rate = 30;
        traffic.prompt = LengthDistribution::fixed(1000);
        traffic.output = LengthDistribution::fixed(100);
        traffic.requests = 600;
        const auto requests = generate_requests(traffic);
        Slo slo;
        slo.ttft_ms = 400;
        slo.tpot_ms = 25;
        SearchSpace space;
        space.max_seqs = {64, 256};
        space.disaggregated = false; // first the replicas of one layout; the pools below
        int calls = 0, total = 0, last = 0;
        const SearchResult fewest = search_deployments(model, topology, requests, slo, space,
                                                       SearchObjective::FewestGpus, {}, [&](const SearchProgress& p) {
                                                           ++calls;
                                                           QVERIFY(p.done > last && p.done <= p.total);
                                                           last = p.done;
                                                           total = p.total;
                                                       });
        QCOMPARE(calls, fewest.simulated);
        QVERIFY(total >= fewest.simulated);
        QVERIFY(!fewest.options.empty());
        const DeploymentOption& best = fewest.options.front();
        QVERIFY(best.summary.meets_slo);
        // Nothing that meets the SLO has fewer GPUs, and everything that meets it ranks first.
        bool seen_missing = false;
        for (const auto& o : fewest.options) {
            if (o.summary.meets_slo) {
                QVERIFY(!seen_missing);
                QVERIFY(o.gpus >= best.gpus);
            }
            seen_missing = seen_missing || !o.summary.meets_slo;
            QCOMPARE(o.gpus, o.replicas * o.layout.devices());
        }
        // The figures are the simulator's: re-simulating the winner gives them again.
        const CostModelStepTime steps(
            model, best.layout,
            [&] {
                Topology t = topology;
                t.gpus_per_node = best.layout.devices();
                return t;
            }(),
            DType::BF16, DType::BF16, best.limits.max_seqs, 1100, int(best.limits.max_batched_tokens));
        const auto again = simulate_deployment(requests, best.replicas, best.limits, steps);
        QCOMPARE(summarize(again.merged, slo, best.limits.kv_blocks).goodput_per_s, best.summary.goodput_per_s);
        // The front: no option beats a front one on both axes.
        for (const auto& o : fewest.options)
            if (o.pareto)
                for (const auto& q : fewest.options)
                    QVERIFY(!(q.summary.output_tokens_per_s / q.gpus > o.summary.output_tokens_per_s / o.gpus
                              && q.summary.tokens_per_s_per_user > o.summary.tokens_per_s_per_user));
        const SearchResult goodput =
            search_deployments(model, topology, requests, slo, space, SearchObjective::GoodputPerGpu);
        for (std::size_t i = 1; i < goodput.options.size(); ++i)
            if (goodput.options[i].summary.meets_slo)
                QVERIFY(goodput.options[i - 1].summary.goodput_per_s / goodput.options[i - 1].gpus
                        >= goodput.options[i].summary.goodput_per_s / goodput.options[i].gpus);
        // With prefill and decode pools: each pool's GPUs counted, the KV transfer priced.
        space.disaggregated = true;
        const SearchResult pools =
            search_deployments(model, topology, requests, slo, space, SearchObjective::FewestGpus);
        QVERIFY(pools.simulated > fewest.simulated);
        int split = 0;
        for (const auto& o : pools.options)
            if (o.prefill_layout) {
                ++split;
                QCOMPARE(o.gpus, o.replicas * o.layout.devices() + o.prefill_replicas * o.prefill_layout->devices());
                QVERIFY(o.kv_transfer_ms > 0);
                QVERIFY(o.label().find(" prefill + ") != std::string::npos);
            }
        QVERIFY(split > 0);
        QVERIFY(pools.options.front().gpus <= best.gpus); // more choices never need more GPUs
        std::atomic<bool> cancel{true};
        QCOMPARE(errorOf([&] {
                     search_deployments(model, topology, requests, slo, space, SearchObjective::FewestGpus, {}, {},
                                        &cancel);
                 }),
                 QStringLiteral("deployment search cancelled"));
    }

    void launchCommandsCarryTheLimitsAndTheTraffic()
    {
        Plan replica;
        replica.model = PresetLibrary::instance().model("llama-3.1-8b");
        replica.topology = PresetLibrary::instance().topology("dgx-h100");
        replica.strategy = parse_strategy_text("tp=2");
        replica.workload.prompt = 3000;
        replica.workload.generate = 1;
        SchedulerLimits limits;
        limits.max_seqs = 128;
        limits.max_batched_tokens = 4096;
        TrafficSpec traffic;
        traffic.arrivals.kind = Arrivals::Kind::Gamma;
        traffic.arrivals.rate = 5;
        traffic.arrivals.burstiness = 2; // cv 2: gamma shape 1/4
        traffic.prompt = LengthDistribution::uniform(500, 1500);
        traffic.output = LengthDistribution::fixed(200);
        traffic.requests = 300;
        traffic.seed = 9;
        const auto all = launch_commands(replica, 3, limits, traffic);
        QCOMPARE(all.size(), std::size_t(3));
        const LaunchCommands& vllm = all[0];
        QCOMPARE(QString::fromStdString(vllm.engine), QStringLiteral("vllm"));
        QVERIFY(vllm.serve.find("--tensor-parallel-size 2") != std::string::npos);
        QVERIFY(vllm.serve.find("--max-num-seqs 128 --max-num-batched-tokens 4096") != std::string::npos);
        QVERIFY2(vllm.benchmark.find("--random-input-len 1000 --random-output-len 200 --random-range-ratio 0.50 "
                                     "--num-prompts 300 --seed 9 --request-rate 5.000 --burstiness 0.2500")
                     != std::string::npos,
                 vllm.benchmark.c_str());
        QVERIFY(std::find(vllm.notes.begin(), vllm.notes.end(),
                          "the benchmark draws prompt and output lengths with one range ratio: the simulated ones "
                          "differ in spread")
                != vllm.notes.end());
        QVERIFY(all[1].serve.find("--max-running-requests 128 --chunked-prefill-size 4096") != std::string::npos);
        QVERIFY(std::find(all[1].notes.begin(), all[1].notes.end(),
                          "the command sets no burstiness: it sends Poisson arrivals, not the simulated bursts")
                != all[1].notes.end());
        QVERIFY(all[2].serve.find("--max_batch_size 128 --max_num_tokens 4096") != std::string::npos);
        QVERIFY(all[2].notes.back().find("start 3 of these servers") == 0);
    }

    void kvTransfersArePricedOnTheLinkBetweenThePools()
    {
        const auto& presets = PresetLibrary::instance();
        const ModelSpec model = presets.model("llama-3.1-70b");
        const Topology dgx = presets.topology("2x-dgx-h100");
        const Strategy tp2 = parse_strategy_text("tp=2"), tp4 = parse_strategy_text("tp=4"),
                       tp8 = parse_strategy_text("tp=8");
        // 80 layers x 8 KV heads x 128 x (K and V) x 2 bytes.
        const double per_token = 80.0 * 8 * 128 * 2 * 2;
        const KvTransfer near = price_kv_transfer(model, DType::BF16, dgx, dgx, tp2, tp4);
        QVERIFY(near.in_node);
        QCOMPARE(near.bytes_per_token, per_token);
        QCOMPARE(near.gbps, dgx.intra.busbw_gbps * 2); // two senders stream at once
        QCOMPARE(near.messages, 2); // each TP4 rank gathers its heads from two TP2 ranks
        QCOMPARE(near.ms(1000),
                 dgx.intra.latency_us * 2 / 1000.0 + per_token * 1000 / (dgx.intra.busbw_gbps * 2 * 1e9) * 1000.0);
        const KvTransfer far = price_kv_transfer(model, DType::BF16, dgx, dgx, tp8, tp8);
        QVERIFY(!far.in_node);
        QCOMPARE(far.gbps, dgx.inter.busbw_gbps * 8);
        QCOMPARE(far.messages, 1);
        QCOMPARE(price_kv_transfer(model, DType::FP8, dgx, dgx, tp8, tp8).bytes_per_token, per_token / 2);
    }

    void disaggregatedPoolsSplitTheWork()
    {
        std::vector<Request> requests(200);
        for (std::size_t i = 0; i < requests.size(); ++i)
            requests[i] = {std::int64_t(i), 0.05 * double(i), 512, 50, {}};
        const FixedStepTime prefillSteps(20), decodeSteps(5);
        Pool prefill;
        prefill.layout = parse_strategy_text("tp=2");
        prefill.limits.max_seqs = 8;
        prefill.limits.max_batched_tokens = 512; // one prompt per step
        prefill.limits.kv_blocks = 10000;
        prefill.steps = &prefillSteps;
        Pool decode = prefill;
        decode.limits.max_seqs = 64;
        decode.steps = &decodeSteps;
        KvTransfer transfer;
        transfer.bytes_per_token = 1e6;
        transfer.gbps = 100; // 512 tokens: 5.12 ms, plus 10 us
        transfer.latency_us = 10;
        const DisaggregatedRun run = simulate_disaggregated(requests, prefill, decode, transfer);
        QCOMPARE(run.transfer_ms_mean, 5.13);
        // Arrivals every 50 ms, one 20 ms prefill each: no queue, TTFT is one prefill step.
        for (const auto& r : run.merged.requests) {
            QCOMPARE(r.ttft_ms(), 20.0);
            QVERIFY(r.finish_s > r.first_token_s);
            // 49 decode steps of 5 ms after a 5.13 ms transfer (and the step it waits to join).
            QVERIFY2(r.tpot_ms() >= (5.13 + 49 * 5) / 49 - 1e-9 && r.tpot_ms() <= (5.13 + 50 * 5) / 49 + 1e-9,
                     qPrintable(QString::number(r.tpot_ms())));
        }
        QCOMPARE(run.decode.prefill_tokens, std::int64_t(0)); // the decode pool never prefills
        QCOMPARE(run.prefill.prefill_tokens, std::int64_t(200 * 512));
        QCOMPARE(run.merged.generated_tokens, std::int64_t(200 * 50));
    }

    void theCliSimulatesADeployment()
    {
        auto cli = [](QStringList arguments) { return test::runCli(arguments); };
        const auto r = cli({QStringLiteral("--json"), QStringLiteral("serve"), QStringLiteral("simulate"),
                            QStringLiteral("-m"), QStringLiteral("llama-3.1-8b"), QStringLiteral("-s"),
                            QStringLiteral("tp=2"), QStringLiteral("--rate"), QStringLiteral("20"),
                            QStringLiteral("--requests"), QStringLiteral("400"), QStringLiteral("--slo-tpot"),
                            QStringLiteral("1"), QStringLiteral("--usd-per-gpu-hour"), QStringLiteral("2")});
        QCOMPARE(r.exitCode, 0);
        const QJsonObject j = test::jsonOf(r).object();
        QCOMPARE(j[QStringLiteral("kind")].toString(), QStringLiteral("simulated"));
        // Kept beside the measured runs, as what it is.
        const int run = j[QStringLiteral("run")].toInt();
        QVERIFY(run > 0);
        const auto shown =
            cli({QStringLiteral("--json"), QStringLiteral("history"), QStringLiteral("show"), QString::number(run)});
        const QJsonObject stored = test::jsonOf(shown).object();
        QCOMPARE(stored[QStringLiteral("kind")].toString(), QStringLiteral("simulated"));
        QCOMPARE(stored[QStringLiteral("backend")].toString(), QStringLiteral("simulator"));
        QCOMPARE(stored[QStringLiteral("simulated")].toObject()[QStringLiteral("tpot_ms")].toDouble(),
                 j[QStringLiteral("tpot_ms")].toObject()[QStringLiteral("mean")].toDouble());
        QCOMPARE(stored[QStringLiteral("simulation")].toObject()[QStringLiteral("goodput_per_s")].toDouble(),
                 j[QStringLiteral("goodput_per_s")].toDouble());
        QVERIFY(!stored.contains(QStringLiteral("measured")));
        QCOMPARE(j[QStringLiteral("replicas")].toInt(), 4); // a DGX holds four TP2 replicas
        QCOMPARE(j[QStringLiteral("gpus")].toInt(), 8);
        QCOMPARE(j[QStringLiteral("requests")].toInt(), 400);
        QCOMPARE(j[QStringLiteral("meets_slo")].toBool(), false); // no decode step takes 1 ms
        QVERIFY(j[QStringLiteral("failing")].toArray()[0].toString().startsWith(QStringLiteral("TPOT p90 ")));
        const double perGpu = j[QStringLiteral("output_tokens_per_s_per_gpu")].toDouble();
        QCOMPARE(j[QStringLiteral("usd_per_million_output_tokens")].toDouble(), 2.0 / (perGpu * 3600.0) * 1e6);
        const auto bad = cli({QStringLiteral("serve"), QStringLiteral("simulate"), QStringLiteral("--prompt-len"),
                              QStringLiteral("uniform:9-3")});
        QCOMPARE(bad.exitCode, 1);
        QVERIFY2(bad.err.contains("prompt length: uniform needs 1 <= low <= high, got 9-3"), bad.err.constData());
        const auto split =
            cli({QStringLiteral("--json"), QStringLiteral("serve"), QStringLiteral("simulate"),
                 QStringLiteral("--no-store"), QStringLiteral("--prefill-strategy"), QStringLiteral("tp=2"),
                 QStringLiteral("--prefill-replicas"), QStringLiteral("2"), QStringLiteral("-s"),
                 QStringLiteral("tp=4"), QStringLiteral("--requests"), QStringLiteral("200")});
        QCOMPARE(split.exitCode, 0);
        const QJsonObject d = test::jsonOf(split).object();
        QCOMPARE(d[QStringLiteral("gpus")].toInt(), 8);
        QVERIFY(!d.contains(QStringLiteral("run")));
        const QJsonObject pools = d[QStringLiteral("disaggregated")].toObject();
        QCOMPARE(pools[QStringLiteral("prefill_replicas")].toInt(), 2);
        QCOMPARE(pools[QStringLiteral("kv_transfer_messages")].toInt(), 2);
        QVERIFY(pools[QStringLiteral("kv_transfer_in_node")].toBool());
        QVERIFY(pools[QStringLiteral("kv_transfer_ms_mean")].toDouble() > 0);
        // Each engine's servers per pool, with their disaggregation flags, and the router.
        const QJsonArray launch = d[QStringLiteral("launch")].toArray();
        QCOMPARE(launch.size(), 3);
        const QString sglang = launch[1].toObject()[QStringLiteral("serve")].toString();
        QVERIFY2(sglang.contains(QStringLiteral("--tp-size 2"))
                     && sglang.contains(QStringLiteral("--disaggregation-mode prefill"))
                     && sglang.contains(QStringLiteral("--tp-size 4"))
                     && sglang.contains(QStringLiteral("--disaggregation-mode decode"))
                     && sglang.contains(QStringLiteral("sglang_router.launch_router --pd-disaggregation")),
                 qPrintable(sglang));
        QVERIFY(launch[0].toObject()[QStringLiteral("serve")].toString().contains(QStringLiteral("NixlConnector")));
        const auto tooMany = cli({QStringLiteral("serve"), QStringLiteral("simulate"), QStringLiteral("-s"),
                                  QStringLiteral("tp=4"), QStringLiteral("--replicas"), QStringLiteral("3")});
        QVERIFY2(tooMany.err.contains("3 replicas of TP4 need 12 GPUs"), tooMany.err.constData());
    }

    void stepTimesComeFromTheCostModel()
    {
        const auto& presets = PresetLibrary::instance();
        const ModelSpec model = presets.model("llama-3.1-8b");
        const Topology topology = presets.topology("dgx-h100");
        Strategy tp2;
        tp2.tensor_mode = TensorMode::Megatron1D;
        tp2.tensor_shape = {2};
        const CostModelStepTime steps(model, tp2, topology, DType::BF16, DType::BF16, 64, 8192, 8192);
        // The grid's own points are the cost model's numbers exactly.
        Workload w;
        w.batch = 8;
        w.prompt = 512;
        w.generate = 2;
        QCOMPARE(steps.decode_ms(8, 512), estimate(model, tp2, topology, w).decode.time_ms);
        w.batch = 1;
        w.prompt = 1024;
        w.generate = 0;
        QCOMPARE(steps.prefill_ms(1024), estimate(model, tp2, topology, w).prefill.time_ms);
        // Longer contexts and bigger batches take longer; a mixed step at least its decode.
        QVERIFY(steps.decode_ms(8, 4096) > steps.decode_ms(8, 512));
        QVERIFY(steps.decode_ms(32, 512) > steps.decode_ms(8, 512));
        QVERIFY(steps.ms({256, 8, 8 * 512}) >= steps.decode_ms(8, 512));
        QCOMPARE(steps.ms({}), 0.0);
        // Two H100s hold 16 GB of weights: the rest, less activations and reserve, is KV.
        QVERIFY2(steps.kv_capacity_tokens() > 500000 && steps.kv_capacity_tokens() < 2000000,
                 qPrintable(QString::number(steps.kv_capacity_tokens())));
        QVERIFY(steps.source().find("measured H100 SXM 80GB tables") != std::string::npos);
        Strategy dp2 = tp2;
        dp2.dp = 2;
        QCOMPARE(
            errorOf([&] { CostModelStepTime(model, dp2, topology, DType::BF16, DType::BF16, 8, 1024, 1024); }),
            QStringLiteral("a replica is one data-parallel copy: give its layout with dp=1 and the replicas apart"));
    }
};

QTEST_GUILESS_MAIN(TestServing)
#include "tst_serving.moc"
