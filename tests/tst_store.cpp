// The run store: schema and migrations, ingestion, history queries, and its reliability
// under corrupt files, newer schemas, read-only use, concurrent writers and killed engines.
#include "store/profile_store.h"
#include "store/run_store.h"

#include "test_support.h"
#include "test_tier.h"

#include <QtTest>

#include <QProcess>
#include <QRandomGenerator>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

using namespace shard;
using shard::test::errorOf;

namespace {

Json parseEvent(const std::string& text)
{
    return Json::parse(text);
}

void write_run(RunStore& store, const std::string& model, double tpot, int ops = 3)
{
    store.ingest(parseEvent(
        R"({"v":1,"event":"start","plan":"p","backend":"cpu","model":")" + model
        + R"(","topology":"dgx-h100","strategy":"TP2","environment":{"host":"h","engine_version":"0.1.0"}})"));
    for (int i = 0; i < ops; ++i)
        store.ingest(
            parseEvent(R"({"v":1,"event":"op","rank":0,"step":1,"layer":0,"op":"qkv_proj","kind":"qkv","us":10})"));
    store.ingest(parseEvent(
        R"({"v":1,"event":"collective","rank":0,"step":1,"op":"AllReduce","group":"tp","group_size":2,"bytes":64,"sent":64,"received":64,"us":5,"algbw":1,"busbw":1})"));
    store.ingest(parseEvent(R"({"v":1,"event":"result","measured":{"ttft_ms":2,"tpot_ms":)" + std::to_string(tpot)
                            + R"(,"tokens_per_s":100},"predicted":{"ttft_ms":1,"tpot_ms":0.5},"max_rel_error":1e-7})"));
}

QByteArray fileBytes(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

} // namespace

class TestStore : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString path(const char* name) const { return m_dir.filePath(QString::fromLatin1(name)); }

private slots:
    void newDatabaseHasTheSchema()
    {
        RunStore store(path("new.db").toStdString());
        QCOMPARE(store.schema_version(), RunStore::kSchemaVersion);
        Statement mode = store.db().prepare("PRAGMA journal_mode");
        QVERIFY(mode.step());
        QCOMPARE(QString::fromStdString(mode.text(0)), QStringLiteral("wal"));
        Statement fk = store.db().prepare("PRAGMA foreign_keys");
        QVERIFY(fk.step());
        QCOMPARE(fk.int64(0), qint64(1));
    }

    void ingestAndQuery()
    {
        RunStore store(path("ingest.db").toStdString());
        write_run(store, "tiny-dense", 4.0);
        write_run(store, "tiny-moe", 6.0, 5);
        const auto all = store.list();
        QCOMPARE(all.size(), std::size_t(2));
        QCOMPARE(QString::fromStdString(all.front().model), QStringLiteral("tiny-moe")); // newest first
        const auto run = store.get(all.front().id);
        QVERIFY(run.has_value());
        QCOMPARE(run->status, RunStatus::Completed);
        QCOMPARE(*run->tpot_ms, 6.0);
        QCOMPARE(*run->predicted_tpot_ms, 0.5);
        QCOMPARE(run->op_rows, qint64(5));
        QCOMPARE(run->collective_rows, qint64(1));
        HistoryFilter filter;
        filter.model = "tiny-dense";
        QCOMPARE(store.list(filter).size(), std::size_t(1));
        filter = {};
        filter.since = "2999-01-01";
        QCOMPARE(store.list(filter).size(), std::size_t(0));
        // Deleting a run removes its measurements with it.
        QVERIFY(store.remove(all.front().id));
        Statement ops = store.db().prepare("SELECT count(*) FROM op_measurements");
        ops.step();
        QCOMPARE(ops.int64(0), qint64(3));
        QVERIFY(!store.remove(all.front().id));
    }

    void errorEventKeepsTheFailure()
    {
        RunStore store(path("error.db").toStdString());
        store.ingest(parseEvent(R"({"v":1,"event":"start","plan":"p","backend":"cpu","model":"m"})"));
        const auto id = store.ingest(
            parseEvent(R"({"v":1,"event":"error","status":"cancelled","message":"run cancelled by signal"})"));
        const auto run = store.get(id);
        QCOMPARE(run->status, RunStatus::Cancelled);
        QCOMPARE(QString::fromStdString(run->message), QStringLiteral("run cancelled by signal"));
    }

    void notSqliteIsRefusedAndUntouched()
    {
        const QString file = path("notes.db");
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("these are my notes, not a database\n");
        f.close();
        const QByteArray before = fileBytes(file);
        const QString message = errorOf([&] { RunStore store(file.toStdString()); });
        QVERIFY2(message.contains(
                     QStringLiteral("not a ShardStudio run database (the file is not SQLite); it was left untouched")),
                 qPrintable(message));
        QCOMPARE(fileBytes(file), before);
    }

    void foreignSqliteIsRefusedAndUntouched()
    {
        const QString file = path("other.db");
        {
            SqliteDb db(file.toStdString(), SqliteDb::Mode::ReadWrite);
            db.exec("CREATE TABLE recipes (name TEXT)");
        }
        const QByteArray before = fileBytes(file);
        const QString message = errorOf([&] { RunStore store(file.toStdString()); });
        QVERIFY2(message.contains(QStringLiteral("not a ShardStudio run database (it has other tables)")),
                 qPrintable(message));
        QCOMPARE(fileBytes(file), before);
    }

    void newerSchemaIsRefused()
    {
        const QString file = path("future.db");
        {
            RunStore store(file.toStdString());
            store.db().exec("UPDATE schema_version SET version = 7");
        }
        const QString message = errorOf([&] { RunStore store(file.toStdString()); });
        QVERIFY2(message.contains(QStringLiteral(
                     "schema version 7, written by a newer ShardStudio; this build reads up to version 3")),
                 qPrintable(message));
    }

    void previousVersionFilesMigrate_data()
    {
        QTest::addColumn<QString>("fixture");
        // Version 0 is an empty file; each later schema keeps a file of the version before it.
        QTest::addRow("v0 empty file") << QString();
        QTest::addRow("v1 file") << QStringLiteral(SHARD_TEST_FIXTURES "/store/runs-v1.db");
        QTest::addRow("v2 file") << QStringLiteral(SHARD_TEST_FIXTURES "/store/runs-v2.db");
    }

    void previousVersionFilesMigrate()
    {
        QFETCH(QString, fixture);
        const QString file = path("migrate.db");
        QFile::remove(file);
        if (fixture.isEmpty()) {
            QFile f(file);
            QVERIFY(f.open(QIODevice::WriteOnly));
        } else {
            QVERIFY(QFile::copy(fixture, file));
            QFile::setPermissions(file, QFileDevice::ReadOwner | QFileDevice::WriteOwner);
        }
        RunStore store(file.toStdString());
        QCOMPARE(store.schema_version(), RunStore::kSchemaVersion);
        if (!fixture.isEmpty())
            QVERIFY(!store.list().empty()); // nothing stored is lost
        QVERIFY(list_profiles(store).empty()); // the profiles' tables exist, empty
    }

    void profilesRoundTripNewestFirst()
    {
        RunStore store(path("profiles.db").toStdString());
        MachineProfile older;
        older.created_at = "2026-11-30T09:00:00Z";
        older.gpu_kind = "H200 SXM 141GB";
        older.gpu_name = "NVIDIA H200";
        older.devices = 8;
        older.driver = "580.65";
        older.cuda = "13.0";
        older.nccl = "2.27.3";
        older.engine_version = "0.1.0";
        older.quick = true;
        older.notes = {"collectives: first note", "second note"};
        older.tables["gemm"] = "gemm_dtype,n,k,m=1,m=8\nbfloat16,1024,1024,0.01,0.011\n";
        MachineProfile host = older;
        host.created_at = "2026-12-01T09:00:00Z";
        host.host_model = true;
        const std::int64_t first = add_profile(store, older);
        const std::int64_t second = add_profile(store, host);

        const auto all = list_profiles(store);
        QCOMPARE(all.size(), std::size_t(2));
        QCOMPARE(all[0].id, second);
        QVERIFY(all[0].host_model);
        QVERIFY(all[0].tables.empty()); // listed without tables
        const auto back = get_profile(store, first);
        QVERIFY(back.has_value());
        QCOMPARE(QString::fromStdString(back->gpu_name), QStringLiteral("NVIDIA H200"));
        QCOMPARE(back->devices, 8);
        QCOMPARE(QString::fromStdString(back->nccl), QStringLiteral("2.27.3"));
        QVERIFY(back->quick && !back->host_model);
        QCOMPARE(back->notes, older.notes);
        QCOMPARE(back->tables, older.tables);
        // The newer one was measured on the host model of CUDA: the planner's pick skips it.
        const auto usable = latest_profile(store, "H200 SXM 141GB");
        QVERIFY(usable.has_value());
        QCOMPARE(usable->id, first);
        QVERIFY(!latest_profile(store, "H100 SXM 80GB").has_value());
        QVERIFY(remove_profile(store, first));
        QVERIFY(!remove_profile(store, first));
        QVERIFY(!latest_profile(store, "H200 SXM 141GB").has_value());
        Statement rows = store.db().prepare("SELECT count(*) FROM profile_tables WHERE profile_id = ?");
        rows.bind(1, first);
        QVERIFY(rows.step());
        QCOMPARE(rows.int64(0), qint64(0)); // its tables went with it
    }

    void aMalformedProfileIsRefusedWhole()
    {
        RunStore store(path("bad-profile.db").toStdString());
        MachineProfile bad;
        bad.created_at = "2026-12-03T10:00:00Z";
        bad.gpu_kind = "H200 SXM 141GB";
        bad.devices = 1;
        bad.tables["gemm"] = "gemm_dtype,n,k,m=1\nbfloat16,1024,1024,0.01\n";
        bad.tables["nccl"] = "op_name,nccl_dtype,num_gpus,message_size=256\nall_reduce,half,2,fast\n";
        const QString message = errorOf([&] { add_profile(store, bad); });
        QCOMPARE(message,
                 QStringLiteral("the profile's table: nccl line 2: column message_size=256 is not a number: 'fast'"));
        QVERIFY(list_profiles(store).empty());
        bad.tables.erase("nccl");
        bad.devices = 0;
        QCOMPARE(errorOf([&] { add_profile(store, bad); }),
                 QStringLiteral("a profile needs the number of GPUs it measured, got 0"));
        QVERIFY(list_profiles(store).empty());
    }

    void readOnlyReadsButRefusesWrites()
    {
        const QString file = path("ro.db");
        {
            RunStore store(file.toStdString());
            write_run(store, "tiny-dense", 4.0);
        }
        RunStore store(file.toStdString(), SqliteDb::Mode::ReadOnly);
        QCOMPARE(store.list().size(), std::size_t(1));
        const QString message = errorOf([&] { write_run(store, "tiny-moe", 1.0); });
        QVERIFY2(message.startsWith(QStringLiteral("the run database is read-only")), qPrintable(message));
    }

    void fourWriterProcesses()
    {
        // 4 processes x 250 runs into one file: every run lands, no "database is locked".
        const std::string file = path("concurrent.db").toStdString();
        {
            RunStore init(file);
        }
        std::vector<pid_t> children;
        for (int w = 0; w < 4; ++w) {
            const pid_t pid = fork();
            if (pid == 0) {
                int code = 0;
                try {
                    RunStore store(file);
                    for (int i = 0; i < 250; ++i)
                        write_run(store, "writer-" + std::to_string(w), double(i), 2);
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "writer %d: %s\n", w, e.what());
                    code = 1;
                }
                _exit(code);
            }
            children.push_back(pid);
        }
        for (const pid_t pid : children) {
            int status = 0;
            waitpid(pid, &status, 0);
            QVERIFY(WIFEXITED(status));
            QCOMPARE(WEXITSTATUS(status), 0);
        }
        RunStore store(file);
        QCOMPARE(store.list().size(), std::size_t(1000));
        for (int w = 0; w < 4; ++w) {
            HistoryFilter f;
            f.model = "writer-" + std::to_string(w);
            QCOMPARE(store.list(f).size(), std::size_t(250));
        }
        Statement integrity = store.db().prepare("PRAGMA integrity_check");
        QVERIFY(integrity.step());
        QCOMPARE(QString::fromStdString(integrity.text(0)), QStringLiteral("ok"));
    }

    void killedEnginesKeepTheirRuns()
    {
        // CPU runs killed with SIGKILL at random points (20 in the CI tier, 50 in the full
        // one): every run row stays, marked failed with what it measured, and the database
        // stays intact.
        const QString file = path("killed.db");
        const int runs = test::stressCount(20, 50);
        auto* random = QRandomGenerator::global();
        for (int i = 0; i < runs; ++i) {
            QProcess engine;
            engine.start(QStringLiteral(SHARD_BIN_DIR "/shardstudio-cli"),
                         {QStringLiteral("run"),
                          QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-moe-pp2-tp2-ep2.shardplan.json"),
                          QStringLiteral("--steps"), QStringLiteral("100000"), QStringLiteral("--db"), file,
                          QStringLiteral("--json")});
            QVERIFY(engine.waitForStarted());
            // Events are stored before they are printed: once "start" shows, the run exists.
            // Half the runs are killed right after it, half once a few steps are done.
            const QByteArray wanted = i % 2 ? QByteArray("\"step\":3,") : QByteArray("\"event\":\"start\"");
            QByteArray seen;
            QTRY_VERIFY_WITH_TIMEOUT((seen += engine.readAllStandardOutput()).contains(wanted), 30000);
            QTest::qWait(int(random->bounded(0, 200)));
            ::kill(pid_t(engine.processId()), SIGKILL);
            QVERIFY(engine.waitForFinished(10000));
        }
        RunStore store(file.toStdString()); // opening recovers the runs left "running"
        const auto all = store.list();
        QCOMPARE(int(all.size()), runs);
        int with_measurements = 0;
        for (const auto& r : all) {
            QCOMPARE(r.status, RunStatus::Failed);
            QVERIFY(QString::fromStdString(r.message).contains(QStringLiteral("stopped without a result")));
            with_measurements += store.get(r.id)->op_rows > 0 ? 1 : 0;
        }
        QVERIFY(with_measurements > 0);
        Statement integrity = store.db().prepare("PRAGMA integrity_check");
        QVERIFY(integrity.step());
        QCOMPARE(QString::fromStdString(integrity.text(0)), QStringLiteral("ok"));
    }
};

QTEST_GUILESS_MAIN(TestStore)
#include "tst_store.moc"
