// The run's event protocol: every kind written by the one writer reads back equal through
// the one parser, the lines keep the protocol's keys in their order, a reader takes odd
// fields as their defaults instead of losing the run, and kinds it does not know pass
// through with their fields.
#include "run/events.h"

#include "core/error.h"

#include "test_support.h"

#include <QtTest>

#include <limits>

using namespace shard;
using namespace shard::run;
using shard::test::errorOf;

namespace {

StartEvent cudaStart()
{
    StartEvent e;
    e.plan = "plans/tp2.json";
    e.backend = "cuda";
    e.model = "tiny-dense";
    e.topology = "dgx-h100";
    e.strategy = "pp=1,dp=1,tp=2,mode=megatron";
    e.ranks = 2;
    e.steps = 4;
    e.batch = 8;
    e.prompt = 128;
    e.environment = {"gpu-host", "0.9.0", {"NVIDIA H200", "NVIDIA H200"}, "bf16", "580.65", "13.0", "2.27.3"};
    e.dtype = "bf16";
    e.graphs = true;
    e.overlap = false;
    e.network = "measured";
    e.host_threads = "4";
    e.note = "emulated ranks share one GPU";
    return e;
}

ResultEvent checkedResult()
{
    ResultEvent e;
    e.backend = "cpu";
    e.seconds = 1.25;
    e.ttft_ms = 12.5;
    e.tpot_ms = 3.25;
    e.tokens_per_s = 2461.5;
    e.step_ms = {12.5, 3.5, 3.0};
    e.predicted_ttft_ms = 11.0;
    e.predicted_tpot_ms = 3.0;
    e.predicted_tokens_per_s = 2666.0;
    e.predicted_gpu = "h100-sxm";
    e.max_rel_error = 1.5e-7;
    e.tokens_match = true;
    e.traffic_exact = false;
    e.traffic_differences = {"allreduce tp: 4096 bytes, predicted 8192"};
    e.dtype = "fp32";
    e.checked = true;
    e.tolerance = 1e-3;
    e.network = "measured";
    e.step_times = {{10.0, 2.5, 12.0, false}, {2.0, 1.0, 3.0, true}};
    e.weight_bytes_per_rank = 6000000000LL;
    e.workspace_bytes_per_rank = 1LL << 33;
    return e;
}

Event roundTrip(const Event& event)
{
    return parse_event_line(to_line(event));
}

} // namespace

class TestEvents : public QObject {
    Q_OBJECT

private slots:
    void everyKindReadsBackEqual()
    {
        OpEvent op{1, 2, 5, "attn.qkv", "gemm", 41.5, 1200.25, 40.0};
        CollectiveEvent collective;
        collective.rank = 3;
        collective.step = 1;
        collective.op = "allreduce";
        collective.group = "tp";
        collective.group_size = 4;
        collective.bytes = 1LL << 34; // past 32 bits: byte counts stay whole
        collective.sent = 3 * (1LL << 32);
        collective.received = 3 * (1LL << 32);
        collective.us = 812.0;
        collective.start_us = 99.5;
        collective.algbw = 21.1;
        collective.busbw = 31.65;
        collective.control = true;
        collective.modeled = true;
        collective.predicted_bytes = 3 * (1LL << 32);
        OtherEvent selftest{"selftest", {{"passed", 7}, {"failed", 0}, {"cases", {"gemm", "softmax"}}}};

        const std::vector<Event> events{cudaStart(),
                                        ProgressEvent{3, 10},
                                        op,
                                        collective,
                                        checkedResult(),
                                        ErrorEvent{"cancelled", "stopped by the user at step 3"},
                                        StoredEvent{42, "/home/u/.local/share/shardstudio/runs.sqlite"},
                                        selftest};
        const std::vector<std::string> kinds{"start",  "progress", "op",     "collective",
                                             "result", "error",    "stored", "selftest"};
        QCOMPARE(events.size(), kinds.size());
        for (std::size_t i = 0; i < events.size(); ++i) {
            QCOMPARE(kind_of(events[i]), kinds[i]);
            const Event back = roundTrip(events[i]);
            QCOMPARE(back.index(), events[i].index());
            QVERIFY2(back == events[i], to_line(events[i]).c_str());
        }
    }

    void linesKeepTheProtocolsKeysAndOrder()
    {
        QCOMPARE(to_line(ProgressEvent{3, 10}), std::string(R"({"v":1,"event":"progress","step":3,"total":10})"));
        QCOMPARE(to_line(OpEvent{0, 1, 2, "mlp.up", "gemm", 10.5, std::nullopt, 9.0}),
                 std::string(R"({"v":1,"event":"op","rank":0,"step":1,"layer":2,"op":"mlp.up","kind":"gemm",)"
                             R"("us":10.5,"measured":true,"predicted_us":9.0})"));
        CollectiveEvent c;
        c.op = "allgather";
        c.group = "dp";
        c.group_size = 2;
        c.bytes = 64;
        c.sent = 32;
        c.received = 32;
        c.us = 4.0;
        c.modeled = true;
        QCOMPARE(to_line(c), std::string(R"({"v":1,"event":"collective","rank":0,"step":0,"op":"allgather",)"
                                         R"("group":"dp","group_size":2,"bytes":64,"sent":32,"received":32,)"
                                         R"("us":4.0,"algbw":0.0,"busbw":0.0,"control":false,"measured":false,)"
                                         R"("time":"modeled"})"));
        StartEvent cpuStart;
        cpuStart.backend = "cpu";
        cpuStart.model = "tiny";
        cpuStart.ranks = 1;
        cpuStart.environment.host = "h";
        QCOMPARE(to_line(cpuStart),
                 std::string(R"({"v":1,"event":"start","plan":"","backend":"cpu","model":"tiny","topology":"",)"
                             R"("strategy":"","ranks":1,"steps":0,"batch":0,"prompt":0,"environment":)"
                             R"({"host":"h","engine_version":"","gpus":[],"dtype":""}})"));
        // A run that produced NaN says so with a null error rather than a number.
        ResultEvent nan;
        nan.status = "failed";
        nan.non_finite = true;
        nan.tokens_match = false;
        QCOMPARE(to_line(nan), std::string(R"({"v":1,"event":"result","status":"failed","measured":{},)"
                                           R"("max_rel_error":null,"non_finite":true,"tokens_match":false})"));
        QVERIFY(roundTrip(nan) == Event(nan));
        // The writer owns "v" and "event": an OtherEvent cannot rename itself.
        QCOMPARE(to_line(OtherEvent{"bootstrap", {{"event", "result"}, {"v", 9}, {"rank", 1}}}),
                 std::string(R"({"v":1,"event":"bootstrap","rank":1})"));
    }

    void oddFieldsReadAsTheirDefaults()
    {
        // Wrong types, out-of-range numbers and missing fields: the event still arrives.
        const Event op = parse_event_line(
            R"({"v":1,"event":"op","rank":"two","step":1e300,"layer":2.0,"op":7,"us":"fast","predicted_us":null})");
        const auto* o = std::get_if<OpEvent>(&op);
        QVERIFY(o);
        QCOMPARE(o->rank, 0);
        QCOMPARE(o->step, 0);
        QCOMPARE(o->layer, 2);
        QCOMPARE(o->op, std::string());
        QCOMPARE(o->us, 0.0);
        QVERIFY(!o->predicted_us);

        const Event result =
            parse_event_line(R"({"event":"result","measured":[1,2],"predicted":{"tpot_ms":"x","gpu":"h200"},)"
                             R"("step_times":[{"compute_ms":1.5},7,{"graph":"yes"}],"traffic_differences":["a",3,"b"],)"
                             R"("weight_bytes_per_rank":18446744073709551615})");
        const auto* r = std::get_if<ResultEvent>(&result);
        QVERIFY(r);
        QCOMPARE(r->status, std::string("completed"));
        QVERIFY(!r->tpot_ms);
        QVERIFY(!r->predicted_tpot_ms);
        QCOMPARE(r->predicted_gpu, std::string("h200"));
        QCOMPARE(r->step_times.size(), std::size_t(2));
        QCOMPARE(r->step_times[0].compute_ms, 1.5);
        QCOMPARE(r->step_times[1].graph, false);
        QCOMPARE(r->traffic_differences, (std::vector<std::string>{"a", "b"}));
        QVERIFY(!r->weight_bytes_per_rank); // past int64: no value rather than a wrapped one

        const Event error = parse_event_line(R"({"event":"error"})");
        QVERIFY(std::get<ErrorEvent>(error) == (ErrorEvent{"failed", ""}));
        const Event collective = parse_event_line(R"({"event":"collective","group_size":"4","time":"measured"})");
        QCOMPARE(std::get<CollectiveEvent>(collective).group_size, 1);
        QCOMPARE(std::get<CollectiveEvent>(collective).modeled, false);
    }

    void unknownKindsPassThrough()
    {
        const Event e = parse_event_line(R"({"v":1,"event":"profile_progress","done":3,"of":{"gemm":40}})");
        const auto* other = std::get_if<OtherEvent>(&e);
        QVERIFY(other);
        QCOMPARE(other->kind, std::string("profile_progress"));
        QCOMPARE(dump_json(other->fields), std::string(R"({"done":3,"of":{"gemm":40}})"));
        QCOMPARE(to_line(e), std::string(R"({"v":1,"event":"profile_progress","done":3,"of":{"gemm":40}})"));
        // Without a kind at all it is still an event, of no kind.
        QCOMPARE(kind_of(parse_event_line(R"({"v":1})")), std::string());
    }

    void whatIsNotAnEventIsRefusedByName()
    {
        QCOMPARE(errorOf([] {
                     parse_event(Json::array({1, 2}));
                 }),
                 QStringLiteral("an event must be a JSON object, got [1,2]"));
        QCOMPARE(errorOf([] { parse_event_line("42"); }), QStringLiteral("an event must be a JSON object, got 42"));
        const QString broken = errorOf([] { parse_event_line(R"({"v":1,"event":"op",)"); });
        QVERIFY2(broken.contains(QStringLiteral("event")), qPrintable(broken));
        QVERIFY(!broken.isEmpty());
    }
};

QTEST_APPLESS_MAIN(TestEvents)
#include "tst_events.moc"
