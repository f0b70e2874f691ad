// Deployments over more than one machine: GPU prices per kind, a money budget beside the GPU
// budget, prefill and decode pools on two GPU kinds with the KV cache crossing the network
// between them, the launch commands saying which nodes each pool starts on, and the CLI.
#include "serving/deployment_option.h"
#include "serving/deployment_search.h"
#include "serving/disaggregated.h"
#include "serving/gpu_prices.h"
#include "serving/launch_export.h"
#include "serving/traffic.h"

#include "core/presets.h"
#include "core/strategy.h"

#include "cli_runner.h"
#include "test_support.h"

#include <QtTest>

#include <QJsonArray>
#include <QJsonObject>

using namespace shard;
using namespace shard::serving;
using shard::test::errorOf;

namespace {

std::vector<Request> steadyTraffic(double rate, int requests)
{
    TrafficSpec traffic;
    traffic.arrivals.rate = rate;
    traffic.prompt = LengthDistribution::fixed(1000);
    traffic.output = LengthDistribution::fixed(100);
    traffic.requests = requests;
    return generate_requests(traffic);
}

Slo latencySlo()
{
    Slo slo;
    slo.ttft_ms = 500;
    slo.tpot_ms = 30;
    return slo;
}

std::vector<Machine> h100AndH200()
{
    const auto& presets = PresetLibrary::instance();
    return {{presets.topology("2x-dgx-h100"), {}}, {presets.topology("2x-hgx-h200"), {}}};
}

QStringList words(std::initializer_list<const char*> list)
{
    QStringList out;
    for (const char* w : list)
        out << QString::fromLatin1(w);
    return out;
}

} // namespace

class TestServingFleet : public QObject {
    Q_OBJECT

private slots:
    void pricesAreGivenPerGpuKind()
    {
        const auto& presets = PresetLibrary::instance();
        const GpuKind h100 = presets.topology("dgx-h100").gpu, h200 = presets.topology("8x-h200").gpu,
                      l40s = presets.topology("4x-l40s-pcie").gpu;
        const GpuPrices flat = GpuPrices::parse("2.5");
        QCOMPARE(flat.usd_per_gpu_hour(h100), 2.5);
        QCOMPARE(flat.usd_per_gpu_hour(l40s), 2.5);
        QCOMPARE(flat.text(), std::string("$2.50 per GPU-hour"));
        const GpuPrices kinds = GpuPrices::parse("h100=2.49, H200 = 3.79");
        QCOMPARE(kinds.usd_per_gpu_hour(h100), 2.49);
        QCOMPARE(kinds.usd_per_gpu_hour(h200), 3.79);
        QVERIFY(!kinds.prices(l40s));
        QCOMPARE(errorOf([&] { kinds.usd_per_gpu_hour(l40s); }),
                 QStringLiteral("no GPU-hour price for L40S: add one for it (H100 SXM 80GB $2.49, H200 SXM 141GB "
                                "$3.79 per GPU-hour given)"));
        const GpuPrices fallback = GpuPrices::parse("h200=3.79,2");
        QCOMPARE(fallback.usd_per_gpu_hour(h100), 2.0);
        QCOMPARE(fallback.usd_per_gpu_hour(h200), 3.79);
        QCOMPARE(fallback.text(), std::string("H200 SXM 141GB $3.79, other kinds $2.00 per GPU-hour"));
        // A kind outside the catalogue by its full name, as its topology file gives it.
        GpuKind custom;
        custom.name = "Lab Accelerator";
        QCOMPARE(GpuPrices::parse("lab accelerator=1.25").usd_per_gpu_hour(custom), 1.25);
        QVERIFY(GpuPrices::parse("  ").empty());
        QCOMPARE(GpuPrices::parse("").usd_per_gpu_hour(h100), 0.0);
        QCOMPARE(errorOf([] { GpuPrices::parse("h100=abc"); }),
                 QStringLiteral("a GPU-hour price is a number of US dollars, at least 0: 'h100=abc'"));
        QCOMPARE(errorOf([] { GpuPrices::parse("-1"); }),
                 QStringLiteral("a GPU-hour price is a number of US dollars, at least 0: '-1'"));
        QCOMPARE(errorOf([] { GpuPrices::parse("h100=1,h100=2"); }),
                 QStringLiteral("two prices for H100 SXM 80GB in 'h100=1,h100=2'"));
        QCOMPARE(errorOf([] { GpuPrices::parse("1,2"); }), QStringLiteral("two prices for every GPU kind in '1,2'"));
        QCOMPARE(errorOf([] { GpuPrices::parse("=3"); }), QStringLiteral("a GPU price without its kind: '=3'"));
        QCOMPARE(errorOf([] { GpuPrices::parse("h100=1,,2"); }),
                 QStringLiteral("an empty entry in the GPU prices 'h100=1,,2': give KIND=USD or USD, separated by "
                                "commas"));
    }

    void kvCachesCrossBetweenMachinesOverTheSlowerNics()
    {
        const auto& presets = PresetLibrary::instance();
        const ModelSpec model = presets.model("llama-3.1-70b");
        const Topology h100 = presets.topology("2x-dgx-h100"), h200 = presets.topology("2x-hgx-h200");
        Topology slow = h200;
        slow.id = "2x-hgx-h200-4nic";
        slow.nics_per_node = 4; // each GPU gets half a NIC
        const Strategy tp4 = parse_strategy_text("tp=4"), tp8 = parse_strategy_text("tp=8");
        const KvTransfer across = price_kv_transfer(model, DType::BF16, h100, slow, tp4, tp8);
        QVERIFY(!across.in_node);
        // 4 senders at 47 GB/s against 8 receivers at 23.5 GB/s: the senders bound it.
        QCOMPARE(across.gbps, 4 * 47.0);
        QCOMPARE(across.latency_us, 25.0);
        QCOMPARE(across.messages, 2);
        QCOMPARE(price_kv_transfer(model, DType::BF16, h100, slow, tp8, tp4).gbps, 4 * 23.5);
        // The same nodes keep a transfer inside one node's fabric.
        QVERIFY(price_kv_transfer(model, DType::BF16, h100, h100, parse_strategy_text("tp=2"), tp4).in_node);
        const Topology box = presets.topology("8x-h200");
        QCOMPARE(errorOf([&] { price_kv_transfer(model, DType::BF16, h100, box, tp4, tp4); }),
                 QStringLiteral("a KV cache leaves or reaches HGX H200 (8x H200 SXM, NVSwitch) over the network, but "
                                "it has no NICs: give the pools a topology with nics_per_node"));
    }

    void theSearchDeploysOnEitherKindAndAcrossBoth()
    {
        const ModelSpec model = PresetLibrary::instance().model("llama-3.1-8b");
        const std::vector<Machine> machines = h100AndH200();
        const auto requests = steadyTraffic(20, 300);
        SearchSpace space;
        space.max_gpus = 8;
        space.max_seqs = {128};
        space.prices = GpuPrices::parse("h100=2,h200=3");
        const SearchResult result =
            search_deployments(model, machines, requests, latencySlo(), space, SearchObjective::CostPerToken);
        int h100_only = 0, h200_only = 0, across = 0;
        for (const DeploymentOption& o : result.options) {
            QVERIFY(o.gpus <= 8);
            const int decode_gpus = o.replicas * o.layout.devices();
            const int prefill_gpus = o.prefill_layout ? o.prefill_replicas * o.prefill_layout->devices() : 0;
            QCOMPARE(o.gpus, decode_gpus + prefill_gpus);
            const double decode_price = o.machine.gpu.name == "H100 SXM 80GB" ? 2.0 : 3.0;
            const double prefill_price = o.prefill_machine.gpu.name == "H100 SXM 80GB" ? 2.0 : 3.0;
            QCOMPARE(o.usd_per_hour,
                     decode_price * decode_gpus + (o.prefill_layout ? prefill_price * prefill_gpus : 0));
            QCOMPARE(o.usd_per_million_tokens, o.usd_per_hour / (o.summary.output_tokens_per_s * 3600.0) * 1e6);
            if (o.prefill_layout && !(o.prefill_machine == o.machine)) {
                ++across;
                QVERIFY(o.gpu_text().find(" prefill, ") != std::string::npos);
                QCOMPARE(o.nodes, 2); // one node of each kind
            } else {
                (o.machine.gpu.name == "H100 SXM 80GB" ? h100_only : h200_only) += 1;
            }
        }
        QVERIFY(h100_only > 0 && h200_only > 0 && across > 0);
        for (std::size_t i = 1; i < result.options.size(); ++i)
            if (result.options[i].summary.meets_slo)
                QVERIFY(result.options[i - 1].usd_per_million_tokens <= result.options[i].usd_per_million_tokens);
        QVERIFY(result.step_source.find("H200 SXM 141GB: ") != std::string::npos);
        // An option simulated again on its own gives the search's figures exactly.
        const auto cross = std::find_if(result.options.begin(), result.options.end(), [](const DeploymentOption& o) {
            return o.prefill_layout && !(o.prefill_machine == o.machine);
        });
        for (const DeploymentOption* o : {&result.options.front(), &*cross}) {
            const OptionRun again = simulate_option(model, machines, *o, requests, DType::BF16, DType::BF16);
            const ServingSummary s = summarize(again.merged, latencySlo(), again.kv_blocks);
            QCOMPARE(s.ttft_ms.mean, o->summary.ttft_ms.mean);
            QCOMPARE(s.tpot_ms.mean, o->summary.tpot_ms.mean);
            QCOMPARE(s.goodput_per_s, o->summary.goodput_per_s);
            QCOMPARE(again.kv_transfer_ms, o->kv_transfer_ms);
        }
        QCOMPARE(
            errorOf([&] { simulate_option(model, {machines.front()}, *cross, requests, DType::BF16, DType::BF16); }),
            QStringLiteral("the deployment runs on 2x HGX H200 over 8x 400G InfiniBand NDR, which is not one of "
                           "the machines searched"));

        // A money budget leaves out what costs more an hour.
        space.max_usd_per_hour = 12;
        const SearchResult cheap =
            search_deployments(model, machines, requests, latencySlo(), space, SearchObjective::CostPerToken);
        QVERIFY(cheap.simulated < result.simulated);
        for (const DeploymentOption& o : cheap.options)
            QVERIFY(o.usd_per_hour <= 12);
        QVERIFY(std::any_of(result.options.begin(), result.options.end(),
                            [](const DeploymentOption& o) { return o.usd_per_hour > 12; }));
        space.prices = GpuPrices::parse("h100=2");
        QCOMPARE(errorOf([&] {
                     search_deployments(model, machines, requests, latencySlo(), space, SearchObjective::CostPerToken);
                 }),
                 QStringLiteral("no GPU-hour price for H200 SXM 141GB: add one for it (H100 SXM 80GB $2.00 per "
                                "GPU-hour given)"));
        space.prices = {};
        QCOMPARE(errorOf([&] {
                     search_deployments(model, machines, requests, latencySlo(), space, SearchObjective::CostPerToken);
                 }),
                 QStringLiteral("a money budget needs the GPUs' prices: give the price per GPU-hour of each kind"));
    }

    void machinesWithoutNicsKeepTheirPoolsAtHome()
    {
        const auto& presets = PresetLibrary::instance();
        const std::vector<Machine> boxes = {{presets.topology("dgx-h100"), {}}, {presets.topology("8x-h200"), {}}};
        SearchSpace space;
        space.max_seqs = {128};
        const SearchResult result = search_deployments(presets.model("llama-3.1-8b"), boxes, steadyTraffic(20, 200),
                                                       latencySlo(), space, SearchObjective::FewestGpus);
        int pools = 0;
        for (const DeploymentOption& o : result.options) {
            QVERIFY(!o.prefill_layout || o.prefill_machine == o.machine);
            pools += o.prefill_layout ? 1 : 0;
        }
        QVERIFY(pools > 0);
        QVERIFY(std::find(result.skipped.begin(), result.skipped.end(),
                          "disaggregated pools: a KV cache leaves or reaches DGX H100 (8x H100 SXM, NVSwitch) over "
                          "the network, but it has no NICs: give the pools a topology with nics_per_node")
                != result.skipped.end());
    }

    void launchCommandsSayWhichNodesEachPoolStartsOn()
    {
        const auto& presets = PresetLibrary::instance();
        DeploymentOption option;
        option.layout = parse_strategy_text("tp=2");
        option.replicas = 2;
        option.machine = presets.topology("2x-hgx-h200");
        option.prefill_layout = parse_strategy_text("tp=4");
        option.prefill_replicas = 1;
        option.prefill_machine = presets.topology("2x-dgx-h100");
        option.limits.max_seqs = 128;
        const auto commands = deployment_launch_commands(presets.model("llama-3.1-8b"), Workload{}, option,
                                                         steadyTraffic(1, 10), TrafficSpec{});
        QCOMPARE(commands.size(), std::size_t(3));
        for (const auto& c : commands) {
            QVERIFY2(c.serve.find("on the H100 SXM 80GB nodes (2x DGX H100 over 8x 400G InfiniBand NDR)\n")
                         != std::string::npos,
                     c.serve.c_str());
            QVERIFY2(c.serve.find("on the H200 SXM 141GB nodes (2x HGX H200 over 8x 400G InfiniBand NDR)\n")
                         != std::string::npos,
                     c.serve.c_str());
        }
        QVERIFY(commands[0].serve.rfind("# prefill on the H100 SXM 80GB nodes", 0) == 0);
        option.prefill_machine = option.machine; // one kind: nothing to say
        const auto same = deployment_launch_commands(presets.model("llama-3.1-8b"), Workload{}, option,
                                                     steadyTraffic(1, 10), TrafficSpec{});
        QVERIFY(same[0].serve.rfind("# prefill\n", 0) == 0);
    }

    void theCliSearchesAndSimulatesAcrossKinds()
    {
        const auto search = test::runCli(words({"--json",
                                                "serve",
                                                "search",
                                                "-m",
                                                "llama-3.1-8b",
                                                "-t",
                                                "2x-dgx-h100",
                                                "--with-topology",
                                                "2x-hgx-h200",
                                                "--usd-per-gpu-hour",
                                                "h100=2,h200=3",
                                                "--max-gpus",
                                                "8",
                                                "--max-seqs",
                                                "128",
                                                "--rate",
                                                "20",
                                                "--requests",
                                                "200",
                                                "--prompt-len",
                                                "1000",
                                                "--output-len",
                                                "100",
                                                "--slo-ttft",
                                                "500",
                                                "--slo-tpot",
                                                "30",
                                                "--rank-by",
                                                "cost"}));
        QCOMPARE(search.exitCode, 0);
        const QJsonArray rows = test::jsonOf(search).object()[QStringLiteral("deployments")].toArray();
        QVERIFY(!rows.isEmpty());
        bool across = false;
        for (const auto& value : rows) {
            const QJsonObject o = value.toObject();
            const bool split = !o[QStringLiteral("prefill_strategy")].toString().isEmpty();
            across = across || (split && o[QStringLiteral("prefill_gpu")] != o[QStringLiteral("gpu")]);
            QVERIFY(o[QStringLiteral("usd_per_hour")].toDouble() > 0);
            QVERIFY(o[QStringLiteral("topology")].toString().startsWith(QStringLiteral("2x-")));
        }
        QVERIFY(across);

        const QStringList simulate = words({"--json",
                                            "serve",
                                            "simulate",
                                            "--no-store",
                                            "-m",
                                            "llama-3.1-8b",
                                            "-t",
                                            "2x-hgx-h200",
                                            "-s",
                                            "tp=2",
                                            "--prefill-strategy",
                                            "tp=2",
                                            "--prefill-topology",
                                            "2x-dgx-h100",
                                            "--usd-per-gpu-hour",
                                            "h100=2,h200=3",
                                            "--rate",
                                            "5",
                                            "--requests",
                                            "100"});
        const auto run = test::runCli(simulate);
        QCOMPARE(run.exitCode, 0);
        const QJsonObject j = test::jsonOf(run).object();
        QCOMPARE(j[QStringLiteral("gpus")].toInt(), 4);
        QCOMPARE(j[QStringLiteral("usd_per_hour")].toDouble(), 3.0 * 2 + 2.0 * 2);
        const QJsonObject pools = j[QStringLiteral("disaggregated")].toObject();
        QCOMPARE(pools[QStringLiteral("prefill_topology")].toString(), QStringLiteral("2x-dgx-h100"));
        QVERIFY(!pools[QStringLiteral("kv_transfer_in_node")].toBool());
        const auto lone = test::runCli(words({"serve", "simulate", "--no-store", "--prefill-topology", "8x-h200"}));
        QVERIFY(lone.exitCode != 0);
        QVERIFY2(lone.err.contains("--prefill-topology places a prefill pool: give its layout with --prefill-strategy"),
                 lone.err.constData());
        const auto twice = test::runCli(
            words({"serve", "search", "-t", "dgx-h100", "--with-topology", "dgx-h100", "--requests", "20"}));
        QVERIFY(twice.exitCode != 0);
        QVERIFY2(twice.err.contains("--with-topology dgx-h100 names a machine the search has already"),
                 twice.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestServingFleet)
#include "tst_serving_fleet.moc"
