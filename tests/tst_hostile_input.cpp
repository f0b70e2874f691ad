// Hostile and broken input to the engine's readers, the run check and the run store: each
// case is one a careful user (or a fuzzer) found, and each must end in an Error that names
// the problem, never a crash, a wrapped number or a silent pass.
#include "core/json_util.h"
#include "core/model_json.h"
#include "core/plan.h"
#include "core/presets.h"
#include "cpu/cpu_executor.h"
#include "planner/planner.h"
#include "planner/serving_export.h"
#include "run/run_report.h"
#include "run/safetensors.h"
#include "store/run_store.h"

#include "test_support.h"

#include <QtTest>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace shard;
using shard::test::errorOf;

namespace {

const char* kTinyPlan = SHARD_SOURCE_DIR "/plans/tiny-dense-dgx-h100-tp8.shardplan.json";

Json tinyPlanJson()
{
    return read_json_file(kTinyPlan);
}

// Rewrites a safetensors file's JSON header, keeping its data bytes.
void editHeader(const std::string& path, const std::function<void(Json&)>& edit)
{
    const std::string file = read_text_file(path);
    std::uint64_t size = 0;
    std::memcpy(&size, file.data(), 8);
    Json header = Json::parse(file.substr(8, size));
    edit(header);
    std::string text = header.dump();
    const std::uint64_t new_size = text.size();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(&new_size), 8);
    out << text << file.substr(8 + size);
}

QString plainError(const std::function<void()>& action)
{
    try {
        action();
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
    return QString();
}

} // namespace

class TestHostileInput : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::string path(const char* name) const { return m_dir.filePath(QString::fromLatin1(name)).toStdString(); }

private slots:
    void deepNestingIsRefusedWhereItStarts()
    {
        // Printing or copying a value 10^5 levels deep overflowed the stack.
        const std::string text = "{\"name\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
        const QString message = errorOf([&] { model_from_json(parse_json_text(text, "deep.json"), "deep.json"); });
        QVERIFY2(message.contains(QStringLiteral("deep.json: JSON nested deeper than 64 levels at line 1, column 73")),
                 qPrintable(message));
        // Brackets inside strings are text, not nesting.
        QVERIFY(parse_json_text("{\"a\": \"" + std::string(1000, '[') + "\"}", "s.json").is_object());
    }

    void numberTooLargeForADoubleNamesFileLineAndColumn()
    {
        const QString message = errorOf([] { parse_json_text("{\n  \"batch\": 1e400\n}", "w.json"); });
        QCOMPARE(message,
                 QStringLiteral("w.json: malformed JSON at line 2, column 12: number overflow parsing '1e400'"));
    }

    void integersBeyondTheirRangeAreRefusedNotCut_data()
    {
        QTest::addColumn<QString>("section");
        QTest::addColumn<QString>("field");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("expected");
        // 2^32 + 8 used to be cut to 8 and planned.
        QTest::addRow("batch") << "workload"
                               << "batch"
                               << "4294967304"
                               << "field 'batch' must be at most 1048576, got 4294967304";
        QTest::addRow("nodes") << "topology"
                               << "nodes"
                               << "4294967297"
                               << "field 'nodes' must be at most 65536, got 4294967297";
        QTest::addRow("layers above int64") << "model"
                                            << "layers"
                                            << "18446744073709551615"
                                            << "field 'layers' must be at most 4096, got 18446744073709551615";
        QTest::addRow("2^31 layers") << "model"
                                     << "layers"
                                     << "2147483648"
                                     << "field 'layers' must be at most 4096, got 2147483648";
        QTest::addRow("negative pp") << "strategy"
                                     << "pp"
                                     << "-2"
                                     << "field 'pp' must not be negative, got -2";
    }

    void integersBeyondTheirRangeAreRefusedNotCut()
    {
        QFETCH(QString, section);
        QFETCH(QString, field);
        QFETCH(QString, value);
        QFETCH(QString, expected);
        Json plan = tinyPlanJson();
        plan[section.toStdString()][field.toStdString()] = Json::parse(value.toStdString());
        const QString message = errorOf([&] { plan_from_json(plan, "p.json"); });
        QVERIFY2(message.contains(expected), qPrintable(message));
    }

    void tensorShapeBeyond32BitsIsRefused()
    {
        Json plan = tinyPlanJson();
        plan["strategy"]["tensor"]["shape"] = Json::parse("[4294967304]");
        const QString message = errorOf([&] { plan_from_json(plan, "p.json"); });
        QVERIFY2(message.contains(QStringLiteral("field 'shape[0]' must be at most 65536, got 4294967304")),
                 qPrintable(message));
    }

    void meshWhoseProductOverflowsIsRefused()
    {
        // 65536 x 65536 wrapped to 0 GPUs in int and passed as fitting on 8.
        Json plan = tinyPlanJson();
        plan["strategy"]["pp"] = 1;
        plan["strategy"]["dp"] = 65536;
        plan["strategy"]["tensor"]["shape"] = {65536};
        const QString message = errorOf([&] { plan_from_json(plan, "p.json"); });
        QVERIFY2(message.contains(QStringLiteral("needs 4294967296 GPUs, the topology has 8")), qPrintable(message));
    }

    void parameterCountBeyondTheLimitIsRefused()
    {
        ModelSpec m = PresetLibrary::instance().model("mixtral-8x7b");
        m.layers = 4096;
        m.hidden = 1 << 20;
        m.moe->experts = 1 << 16;
        m.moe->expert_ffn = 1 << 24;
        const QString message = errorOf([&] { m.validate(); });
        QVERIFY2(message.contains(QStringLiteral("parameter")), qPrintable(message));
        QVERIFY2(message.contains(QStringLiteral("overflows 64 bits"))
                     || message.contains(QStringLiteral("this tool plans for")),
                 qPrintable(message));
    }

    void tokensBeyondTheModelsContextAreRefused()
    {
        const auto& presets = PresetLibrary::instance();
        const ModelSpec model = presets.model("llama-2-7b"); // 4096 tokens
        Workload w;
        w.prompt = 4000;
        w.generate = 200;
        const QString message = errorOf([&] { plan_candidates(model, presets.topology("dgx-h100"), w, {}); });
        QVERIFY2(message.contains(QStringLiteral("prompt + generated tokens (4000 + 200 = 4200) exceed the context of "
                                                 "model 'llama-2-7b' (4096 tokens)")),
                 qPrintable(message));
    }

    void exportRefusesAPlanThatDoesNotFit()
    {
        Plan plan = load_plan(SHARD_SOURCE_DIR "/plans/llama-3.1-70b-dgx-h100-tp8.shardplan.json");
        plan.strategy.tensor_shape = {1}; // 70B in bf16 on one 80 GB GPU
        QVERIFY(!estimate(plan.model, plan.strategy, plan.topology, plan.workload).feasible);
        const QString message = errorOf([&] { export_for_serving(plan, "vllm"); });
        QVERIFY2(message.contains(QStringLiteral("is not feasible")), qPrintable(message));
        QVERIFY2(message.contains(QStringLiteral("no serving command is exported")), qPrintable(message));
    }

    void safetensorsOffsetNearTwoToThe64IsRefused()
    {
        const Plan plan = load_plan(kTinyPlan);
        const std::string file = path("wrap.safetensors");
        run::save_safetensors(run::ModelWeights(plan.model, 1), file);
        editHeader(file, [](Json& h) {
            // end - begin is the right byte count; data start + end wraps past 2^64.
            const std::uint64_t bytes =
                h["embed"]["data_offsets"][1].get<std::uint64_t>() - h["embed"]["data_offsets"][0].get<std::uint64_t>();
            const std::uint64_t end = std::numeric_limits<std::uint64_t>::max() - 7;
            h["embed"]["data_offsets"] = {end - bytes, end};
        });
        const QString message = errorOf([&] { run::load_safetensors(plan.model, file); });
        QVERIFY2(message.contains(QStringLiteral("tensor 'embed' data [")), qPrintable(message));
        QVERIFY2(message.contains(QStringLiteral("does not fit its shape or the")), qPrintable(message));
    }

    void safetensorsShapesMustMatchAxisByAxis_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addRow("transposed") << "transposed";
        QTest::addRow("flattened") << "flattened";
        QTest::addRow("string axis") << "string";
    }

    void safetensorsShapesMustMatchAxisByAxis()
    {
        QFETCH(QString, kind);
        const Plan plan = load_plan(kTinyPlan);
        const run::ModelWeights weights(plan.model, 1);
        const run::Matrix& embed = weights.get("embed");
        QVERIFY(embed.rows != embed.cols);
        const std::string file = path("shape.safetensors");
        run::save_safetensors(weights, file);
        editHeader(file, [&](Json& h) {
            if (kind == QStringLiteral("transposed"))
                h["embed"]["shape"] = {embed.cols, embed.rows};
            else if (kind == QStringLiteral("flattened"))
                h["embed"]["shape"] = {embed.rows * embed.cols};
            else
                h["embed"]["shape"] = {"a", embed.cols};
        });
        const QString message = errorOf([&] { run::load_safetensors(plan.model, file); });
        QVERIFY2(message.contains(QStringLiteral("tensor 'embed'")), qPrintable(message));
        QVERIFY2(message.contains(kind == QStringLiteral("string") ? QStringLiteral("must be a non-negative integer")
                                                                   : QStringLiteral("needs [")),
                 qPrintable(message));
    }

    void safetensorsWithNaNIsRefused()
    {
        const Plan plan = load_plan(kTinyPlan);
        run::ModelWeights weights(plan.model, 1);
        std::vector<float> values = weights.get("layers.0.q").data;
        values[5] = std::numeric_limits<float>::quiet_NaN();
        weights.assign("layers.0.q", values);
        const std::string file = path("nan.safetensors");
        run::save_safetensors(weights, file);
        const QString message = errorOf([&] { run::load_safetensors(plan.model, file); });
        QVERIFY2(message.contains(QStringLiteral("tensor 'layers.0.q' holds NaN at element 5")), qPrintable(message));
    }

    void nonFiniteWeightsFailTheRunCheck()
    {
        // NaN weights made every comparison false and the check reported an error of 0.
        Plan plan = load_plan(kTinyPlan);
        plan.workload.generate = 1;
        run::ModelWeights weights(plan.model, 1);
        std::vector<float> values = weights.get("layers.0.q").data;
        values[0] = std::numeric_limits<float>::infinity();
        weights.assign("layers.0.q", values);
        const run::RunResult run = cpu::run_cpu(plan, weights);
        const auto reference = cpu::run_reference(plan, weights);
        Workload fp32 = plan.workload;
        fp32.dtype = fp32.kv_dtype = DType::FP32;
        const Estimate predicted = estimate(plan.model, plan.strategy, plan.topology, fp32);
        const run::RunCheck check = run::check_run(run, reference, predicted, plan.strategy.pp);
        QVERIFY(std::isinf(check.max_relative_error));
        QVERIFY(std::isinf(run::relative_error({1.0f, std::nanf("")}, {1.0f, 2.0f})));
        QCOMPARE(run::relative_error({3.0f, 4.0f}, {0.0f, 0.0f}), 5.0);
    }

    void referenceRunStopsWhenCancelled()
    {
        const Plan plan = load_plan(kTinyPlan);
        const run::ModelWeights weights(plan.model, 1);
        std::atomic<bool> cancel{true};
        bool cancelled = false;
        try {
            cpu::run_reference(plan, weights, 2, &cancel);
        } catch (const run::Cancelled&) {
            cancelled = true;
        }
        QVERIFY(cancelled);
    }

    void writesFollowSymlinksAndNeverReplaceSpecialFiles()
    {
        const std::string target = path("target.json");
        const std::string link = path("link.json");
        write_text_file(target, "old\n");
        std::filesystem::create_symlink(target, link);
        write_text_file(link, "new\n");
        QVERIFY(std::filesystem::is_symlink(link));
        QCOMPARE(QString::fromStdString(read_text_file(target)), QStringLiteral("new\n"));

        const std::string fifo = path("pipe");
        QCOMPARE(mkfifo(fifo.c_str(), 0600), 0);
        std::string received;
        std::thread reader([&] { received = read_text_file(fifo); });
        write_text_file(fifo, "through the pipe\n");
        reader.join();
        QCOMPARE(QString::fromStdString(received), QStringLiteral("through the pipe\n"));
        struct stat st { };
        QCOMPARE(stat(fifo.c_str(), &st), 0);
        QVERIFY(S_ISFIFO(st.st_mode));

        const QString directory = errorOf([&] { write_text_file(m_dir.path().toStdString(), "x"); });
        QVERIFY2(directory.endsWith(QStringLiteral(": is a directory; refusing to replace it")), qPrintable(directory));
        const QString full = errorOf([] { write_text_file("/dev/full", "x"); });
        QVERIFY2(full.contains(QStringLiteral("write failed")), qPrintable(full));
    }

    void sinceMustBeADate()
    {
        RunStore store(path("since.db"));
        auto since = [](const char* text) {
            HistoryFilter filter;
            filter.since = text;
            return filter;
        };
        QCOMPARE(store.list(since("2026-11-01")).size(), std::size_t(0));
        QCOMPARE(store.list(since("2026-11-01T08:30:00Z")).size(), std::size_t(0));
        for (const char* bad : {"garbage", "2026-13-01", "2026-11-01 08:30", "26-11-01"}) {
            const QString message = errorOf([&] { store.list(since(bad)); });
            QVERIFY2(message.contains(QStringLiteral("is not a UTC date or time")), bad);
        }
    }

    void foreignSqliteIsNotSwitchedToWal()
    {
        // A rollback-journal file of another program: opening it must change no byte and
        // leave no -wal file beside it.
        const std::string file = path("recipes.db");
        sqlite3* db = nullptr;
        QCOMPARE(sqlite3_open(file.c_str(), &db), SQLITE_OK);
        QCOMPARE(sqlite3_exec(db, "CREATE TABLE recipes (name TEXT)", nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(db);
        const std::string before = read_text_file(file);
        const QString message = errorOf([&] { RunStore store(file); });
        QVERIFY2(message.contains(QStringLiteral("it was left untouched")), qPrintable(message));
        QVERIFY(read_text_file(file) == before);
        QVERIFY(!std::filesystem::exists(file + "-wal"));
    }

    void readOnlyDatabaseReadsWhereItsShmCannotBeMade()
    {
        // A WAL database in a folder nobody may write: SQLite cannot make the -shm file.
        // (A directory in its place stands in for the permission, which root would bypass.)
        const std::string file = path("archive.db");
        {
            RunStore store(file);
            store.ingest(Json::parse(R"({"v":1,"event":"start","plan":"p","backend":"cpu","model":"m"})"));
            store.ingest(Json::parse(R"({"v":1,"event":"result","measured":{"tpot_ms":2}})"));
        }
        QVERIFY(!std::filesystem::exists(file + "-shm"));
        std::filesystem::create_directory(file + "-shm");
        RunStore store(file, SqliteDb::Mode::ReadOnly);
        const auto runs = store.list();
        QCOMPARE(runs.size(), std::size_t(1));
        QCOMPARE(runs.front().status, RunStatus::Completed);
        std::filesystem::remove(file + "-shm");
    }

    void killedRunReadsAsFailedWithoutAWriter()
    {
        const std::string file = path("killed.db");
        {
            RunStore store(file);
            store.ingest(Json::parse(R"({"v":1,"event":"start","plan":"p","backend":"cpu","model":"m"})"));
        }
        // Give the run the pid of a process that has exited and been reaped.
        const pid_t child = fork();
        if (child == 0)
            _exit(0);
        waitpid(child, nullptr, 0);
        {
            SqliteDb db(file, SqliteDb::Mode::ReadWrite);
            db.exec("UPDATE runs SET writer_pid = " + std::to_string(child));
        }
        RunStore store(file, SqliteDb::Mode::ReadOnly); // opens nothing for writing: no recovery pass
        const auto run = store.get(1);
        QVERIFY(run);
        QCOMPARE(run->status, RunStatus::Failed);
        QVERIFY2(QString::fromStdString(run->message).contains(QStringLiteral("is gone")), run->message.c_str());
        QCOMPARE(store.list().front().status, RunStatus::Failed);
    }

    void lockedDatabaseWaitIsBoundedAndCancellable()
    {
        const std::string file = path("locked.db");
        {
            RunStore init(file);
        }
        SqliteDb holder(file, SqliteDb::Mode::ReadWrite);
        holder.exec("BEGIN EXCLUSIVE");
        const Json start = Json::parse(R"({"v":1,"event":"start","plan":"p","backend":"cpu","model":"m"})");

        QElapsedTimer timer;
        timer.start();
        const QString timedOut = plainError([&] {
            RunStore store(file, SqliteDb::Mode::ReadWrite, LockWait{std::chrono::milliseconds(300), nullptr});
            store.ingest(start);
        });
        QVERIFY2(timedOut.contains(QStringLiteral("stayed locked by another process for 0.3 s; nothing was written")),
                 qPrintable(timedOut));
        QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed())));

        std::atomic<bool> cancel{false};
        std::thread canceller([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            cancel = true;
        });
        timer.restart();
        const QString cancelled = plainError([&] {
            RunStore store(file, SqliteDb::Mode::ReadWrite, LockWait{std::chrono::minutes(10), &cancel});
            store.ingest(start);
        });
        canceller.join();
        QVERIFY2(cancelled.contains(QStringLiteral("cancelled while waiting for the run database")),
                 qPrintable(cancelled));
        QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed())));
        holder.exec("ROLLBACK");
    }
};

QTEST_GUILESS_MAIN(TestHostileInput)
#include "tst_hostile_input.moc"
