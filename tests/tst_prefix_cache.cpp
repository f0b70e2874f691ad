// Prefix caching in the serving simulator: a request of a cached prefix computes only the
// rest of its prompt, idle prefixes give way least recently used first, the cache never
// holds more than the KV capacity, a router keeps a prefix's requests together within its
// load bound; shared prefixes from traces and generated traffic; the exact replay trace and
// the commands that use it.
#include "serving/deployment.h"
#include "serving/launch_export.h"
#include "serving/prefix_cache.h"
#include "serving/replica_sim.h"
#include "serving/step_time.h"
#include "serving/trace_export.h"
#include "serving/traffic.h"

#include "core/presets.h"

#include "cli_runner.h"
#include "test_support.h"

#include <QtTest>

#include <QJsonArray>
#include <QJsonObject>

#include <map>
#include <random>
#include <set>

using namespace shard;
using namespace shard::serving;
using shard::test::errorOf;

namespace {

Request request(std::int64_t id, double arrival, int prompt, int output, std::string prefix = {}, int shared = 0)
{
    Request r;
    r.id = id;
    r.arrival_s = arrival;
    r.prompt = prompt;
    r.output = output;
    r.prefix = std::move(prefix);
    r.prefix_tokens = shared;
    return r;
}

SchedulerLimits roomyLimits()
{
    SchedulerLimits limits;
    limits.block_size = 16;
    limits.kv_blocks = 1000;
    return limits;
}

} // namespace

class TestPrefixCache : public QObject {
    Q_OBJECT

private slots:
    void aLaterRequestOfAPrefixComputesOnlyTheRest()
    {
        // A finishes long before B arrives; B shares A's first 64 tokens (4 full blocks).
        const std::vector<Request> requests = {request(0, 0.0, 100, 2, "sys", 64), request(1, 1.0, 100, 2, "sys", 64)};
        const FixedStepTime steps(10);
        const ReplicaRun cached = simulate_replica(requests, roomyLimits(), steps);
        QCOMPARE(cached.prefill_tokens, std::int64_t(100 + 36));
        QCOMPARE(cached.prefix_hit_tokens, std::int64_t(64));
        QCOMPARE(cached.requests[0].cached_tokens, 0);
        QCOMPARE(cached.requests[1].cached_tokens, 64);
        SchedulerLimits off = roomyLimits();
        off.prefix_caching = false;
        const ReplicaRun plain = simulate_replica(requests, off, steps);
        QCOMPARE(plain.prefill_tokens, std::int64_t(200));
        QCOMPARE(plain.prefix_hit_tokens, std::int64_t(0));
        // The last prompt token is always computed: a prompt that is all prefix reuses all
        // but its last block.
        const ReplicaRun whole =
            simulate_replica({request(0, 0.0, 64, 2, "p", 64), request(1, 1.0, 64, 2, "p", 64)}, roomyLimits(), steps);
        QCOMPARE(whole.requests[1].cached_tokens, 48);
    }

    void requestsInFlightTogetherDoNotShareUnfinishedBlocks()
    {
        // Both arrive at once: the first has not computed the prefix when the second is
        // admitted in the same step, so both compute it (vLLM shares only computed blocks).
        const std::vector<Request> requests = {request(0, 0.0, 100, 4, "sys", 64), request(1, 0.0, 100, 4, "sys", 64)};
        const ReplicaRun run = simulate_replica(requests, roomyLimits(), FixedStepTime(10));
        QCOMPARE(run.prefill_tokens, std::int64_t(200));
        QCOMPARE(run.prefix_hit_tokens, std::int64_t(0));
    }

    void idlePrefixesGoLeastRecentlyUsedFirst()
    {
        PrefixCache cache;
        QVERIFY(cache.publish("a", 4, 0.0));
        QVERIFY(cache.publish("b", 2, 0.5));
        QVERIFY(!cache.publish("a", 3, 0.6)); // cached already
        QCOMPARE(cache.idle_blocks(), std::int64_t(0)); // both still read by their requests
        QCOMPARE(cache.evict(10), std::int64_t(0));
        cache.release("a", 1.0);
        cache.release("b", 2.0);
        QCOMPARE(cache.idle_blocks(), std::int64_t(6));
        QCOMPARE(cache.evict(1), std::int64_t(4)); // a, the older, whole
        QCOMPARE(cache.acquire("a", 4, 3.0), std::int64_t(0));
        QCOMPARE(cache.acquire("b", 1, 3.0), std::int64_t(1)); // at most what is asked
        QCOMPARE(cache.idle_blocks(), std::int64_t(0));
        QCOMPARE(cache.evict(1), std::int64_t(0)); // b is read again
        QCOMPARE(errorOf([&] { cache.release("c", 4.0); }),
                 QStringLiteral("the prefix cache released 'c', which no request was reading"));
    }

    void theCacheNeverHoldsMoreThanTheKvCacheAndLosesNothing()
    {
        // Many prefixes, a small cache: prefixes are evicted, requests preempted, and still
        // every request finishes, every token is generated and the blocks in use (cached
        // ones included) never exceed the capacity.
        std::mt19937_64 rng(11);
        std::vector<Request> requests;
        double t = 0;
        for (int i = 0; i < 600; ++i) {
            t += std::exponential_distribution<double>(40.0)(rng);
            const int prompt = 100 + int(rng() % 700);
            requests.push_back(request(i, t, prompt, 1 + int(rng() % 60), "p" + std::to_string(rng() % 25),
                                       std::min(prompt, 64 + int(rng() % 400))));
        }
        SchedulerLimits limits;
        limits.block_size = 16;
        limits.kv_blocks = 300;
        limits.max_batched_tokens = 2048;
        const FixedStepTime steps(5);
        const ReplicaRun run = simulate_replica(requests, limits, steps);
        QVERIFY(run.prefix_hit_tokens > 0);
        QVERIFY(run.preemptions > 0);
        std::int64_t outputs = 0, prompts = 0;
        for (std::size_t i = 0; i < requests.size(); ++i) {
            QVERIFY(!run.requests[i].rejected);
            QVERIFY(run.requests[i].finish_s >= run.requests[i].first_token_s);
            outputs += requests[i].output;
            prompts += requests[i].prompt;
        }
        QCOMPARE(run.generated_tokens, outputs);
        QVERIFY(run.prefill_tokens + run.prefix_hit_tokens >= prompts); // recomputation adds
        for (const Sample& s : run.steps)
            QVERIFY(s.kv_blocks_used <= limits.kv_blocks);
        QCOMPARE(run.peak_kv_blocks <= limits.kv_blocks, true);
        // Without preemption every prompt token is either computed or read, once.
        SchedulerLimits roomy = limits;
        roomy.kv_blocks = 100000;
        const ReplicaRun calm = simulate_replica(requests, roomy, steps);
        QCOMPARE(calm.preemptions, std::int64_t(0));
        QCOMPARE(calm.prefill_tokens + calm.prefix_hit_tokens, prompts);
        // A replay is identical.
        const ReplicaRun again = simulate_replica(requests, limits, steps);
        QCOMPARE(again.prefill_tokens, run.prefill_tokens);
        QCOMPARE(again.prefix_hit_tokens, run.prefix_hit_tokens);
        QCOMPARE(again.end_s, run.end_s);
    }

    void aPrefixsRequestsStayOnOneReplicaWithinTheLoadBound()
    {
        const FixedStepTime steps(1);
        // Four prefixes over four replicas: each replica serves exactly one of them.
        std::vector<Request> requests;
        for (int i = 0; i < 80; ++i)
            requests.push_back(request(i, i * 0.01, 200, 2, "p" + std::to_string(i % 4), 128));
        DeploymentRun run = simulate_deployment(requests, 4, roomyLimits(), steps);
        for (const ReplicaRun& replica : run.replicas) {
            QCOMPARE(replica.requests.size(), std::size_t(20));
            std::set<std::string> prefixes;
            for (const RequestResult& r : replica.requests)
                prefixes.insert(requests[std::size_t(r.id)].prefix);
            QCOMPARE(prefixes.size(), std::size_t(1));
        }
        // One prefix for everything: replica 0 takes it until it is 16 requests ahead, then
        // both serve it and share the load evenly.
        for (auto& r : requests)
            r.prefix = "all";
        run = simulate_deployment(requests, 2, roomyLimits(), steps);
        for (int i = 0; i < 17; ++i)
            QCOMPARE(run.replicas[0].requests[std::size_t(i)].id, std::int64_t(i));
        QCOMPARE(run.replicas[1].requests.front().id, std::int64_t(17));
        QCOMPARE(run.replicas[0].requests.size(), std::size_t(40));
        QCOMPARE(run.replicas[1].requests.size(), std::size_t(40));
        // Without prefix caching the router takes turns.
        SchedulerLimits off = roomyLimits();
        off.prefix_caching = false;
        run = simulate_deployment(requests, 2, off, steps);
        QCOMPARE(run.replicas[0].requests[1].id, std::int64_t(2));
        QCOMPARE(run.replicas[1].requests[1].id, std::int64_t(3));
    }

    void sharedPrefixesComeFromTracesAndGeneratedTraffic()
    {
        auto requests = parse_trace_csv(
            "arrival_s,prompt_tokens,output_tokens,prefix_id\n0,300,5,a\n1,100,5,a\n2,80,5,\n", "t.csv");
        QCOMPARE(requests[0].prefix_tokens, 100); // the shortest prompt under the id
        QCOMPARE(requests[1].prefix_tokens, 100);
        QCOMPARE(requests[2].prefix_tokens, 0);
        requests = parse_trace_csv(
            "arrival_s,prompt_tokens,output_tokens,prefix_id,prefix_tokens\n0,300,5,a,256\n1,100,5,,\n", "t.csv");
        QCOMPARE(requests[0].prefix_tokens, 256);
        QCOMPARE(requests[1].prefix_tokens, 0);
        QCOMPARE(
            errorOf([] {
                parse_trace_csv("arrival_s,prompt_tokens,output_tokens,prefix_id,prefix_tokens\n0,300,5,a,400\n",
                                "t.csv");
            }),
            QStringLiteral("t.csv line 2, prefix_tokens: a whole number from 0 to the prompt's 300 tokens, got 400"));
        QCOMPARE(
            errorOf([] { parse_trace_csv("arrival_s,prompt_tokens,output_tokens,prefix_tokens\n0,3,5,1\n", "t.csv"); }),
            QStringLiteral("t.csv line 1: prefix_tokens needs a prefix_id column to say which requests share them"));

        TrafficSpec spec;
        spec.requests = 6;
        spec.prompt = LengthDistribution::uniform(200, 900);
        spec.shared_prefix = 512;
        spec.prefix_groups = 3;
        const auto generated = generate_requests(spec);
        for (std::size_t i = 0; i < generated.size(); ++i) {
            QCOMPARE(generated[i].prefix, "system-" + std::to_string(i % 3));
            QCOMPARE(generated[i].prefix_tokens, std::min(512, generated[i].prompt));
        }
        // The lengths and arrivals are those of the same seed without a shared prefix.
        spec.shared_prefix = 0;
        const auto plain = generate_requests(spec);
        QCOMPARE(plain[5].prompt, generated[5].prompt);
        QCOMPARE(plain[5].arrival_s, generated[5].arrival_s);
        spec.prefix_groups = 0;
        QCOMPARE(errorOf([&] { spec.validate(); }),
                 QStringLiteral("the shared prefix needs at least one group, got 0"));

        const TrafficSpec shape = describe_trace(
            parse_trace_csv("arrival_s,prompt_tokens,output_tokens\n0,100,10\n1,200,20\n4,301,31\n", "t.csv"));
        QCOMPARE(shape.arrivals.rate, 0.5); // two gaps over 4 s
        QCOMPARE(shape.prompt.a, 200.0);
        QCOMPARE(shape.output.a, 20.0);
        QCOMPARE(shape.requests, 3);
    }

    void theReplayTraceSharesThePrefixBlocksHashIds()
    {
        const std::vector<Request> requests = {request(0, 0.0015, 1500, 7, "s", 1100), request(1, 0.25, 600, 3),
                                               request(2, 1.0, 1024, 9, "s", 1100)};
        QCOMPARE(QString::fromStdString(mooncake_trace(requests)),
                 QStringLiteral(
                     "{\"timestamp\": 2, \"input_length\": 1500, \"output_length\": 7, \"hash_ids\": [0, 1, 2]}\n"
                     "{\"timestamp\": 250, \"input_length\": 600, \"output_length\": 3, \"hash_ids\": [3, 4]}\n"
                     "{\"timestamp\": 1000, \"input_length\": 1024, \"output_length\": 9, \"hash_ids\": [0, 1]}\n"));
        QCOMPARE(errorOf([&] { write_mooncake_trace("/nonexistent-dir/x.jsonl", requests); }),
                 QStringLiteral("cannot write the replay trace /nonexistent-dir/x.jsonl"));
    }

    void theLaunchCommandsSayHowThePrefixCacheIsSetAndReplayTheRequests()
    {
        const auto& presets = PresetLibrary::instance();
        DeploymentOption option;
        option.layout = parse_strategy_text("tp=4");
        option.replicas = 2;
        option.machine = presets.topology("dgx-h100");
        option.limits = roomyLimits();
        const std::vector<Request> requests = {request(0, 0, 1000, 100)};
        const auto commands = deployment_launch_commands(presets.model("llama-3.1-70b"), Workload{}, option, requests,
                                                         TrafficSpec{}, "t.csv", "run.replay.jsonl");
        QCOMPARE(commands.size(), std::size_t(3));
        for (const auto& c : commands) {
            QVERIFY2(c.replay.find("--input-file run.replay.jsonl --custom-dataset-type mooncake_trace "
                                   "--fixed-schedule --isl-block-size 512")
                         != std::string::npos,
                     c.replay.c_str());
            QVERIFY(c.text().find(c.replay) != std::string::npos);
        }
        QVERIFY(commands[0].serve.find(" --enable-prefix-caching") != std::string::npos);
        QVERIFY(commands[1].serve.find("--disable-radix-cache") == std::string::npos);
        option.limits.prefix_caching = false;
        const auto off =
            deployment_launch_commands(presets.model("llama-3.1-70b"), Workload{}, option, requests, TrafficSpec{});
        QVERIFY(off[0].serve.find(" --no-enable-prefix-caching") != std::string::npos);
        QVERIFY(off[1].serve.find(" --disable-radix-cache") != std::string::npos);
        QVERIFY(off[0].replay.empty());
    }

    void theCliReportsCacheHitsAndWritesTheReplay()
    {
        auto args = [](std::initializer_list<const char*> words) {
            QStringList list;
            for (const char* w : words)
                list << QString::fromLatin1(w);
            return list;
        };
        QTemporaryDir dir;
        const QString replay = dir.filePath(QStringLiteral("r.jsonl"));
        const QStringList base =
            args({"--json", "serve", "simulate", "--no-store", "-s", "tp=8", "--rate", "2", "--requests", "40",
                  "--prompt-len", "2048", "--output-len", "16", "--shared-prefix", "1024", "--replicas", "1"});
        const auto cached = test::runCli(base + QStringList{QStringLiteral("--replay-file"), replay});
        QCOMPARE(cached.exitCode, 0);
        const QJsonObject j = test::jsonOf(cached).object();
        // 39 of 40 requests read 1024 of their 2048 prompt tokens from the cache.
        QCOMPARE(j[QStringLiteral("prefix_cache_hit_share")].toDouble(), 39.0 * 1024 / (40 * 2048));
        const QJsonObject vllm = j[QStringLiteral("launch")].toArray().at(0).toObject();
        QVERIFY(vllm[QStringLiteral("replay")].toString().contains(replay));
        QFile file(replay);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(file.readAll().count('\n'), 40);
        const auto plain = test::runCli(base + args({"--no-prefix-caching"}));
        QCOMPARE(plain.exitCode, 0);
        QCOMPARE(test::jsonOf(plain).object()[QStringLiteral("prefix_cache_hit_share")].toDouble(), 0.0);
        const auto bad =
            test::runCli(args({"serve", "simulate", "--no-store", "--prefix-groups", "0", "--shared-prefix", "8"}));
        QVERIFY(bad.exitCode != 0);
        QVERIFY2(bad.err.contains("the shared prefix needs at least one group, got 0"), bad.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestPrefixCache)
#include "tst_prefix_cache.moc"
