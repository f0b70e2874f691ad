// shardstudio-cli under hostile input and a hostile environment: each case once crashed,
// hung or answered wrongly with exit code 0.
#include "core/json_util.h"
#include "store/run_store.h"

#include "cli_runner.h"

#include <QtTest>

#include <QJsonArray>
#include <QJsonObject>

#include <filesystem>

using shard::test::CliResult;
using shard::test::runCli;

namespace {

const QString kTinyPlan = QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-dense-dgx-h100-tp8.shardplan.json");

QJsonObject lastJsonLine(const QByteArray& out)
{
    const QList<QByteArray> lines = out.trimmed().split('\n');
    return QJsonDocument::fromJson(lines.isEmpty() ? QByteArray() : lines.back()).object();
}

} // namespace

class TestCliHostile : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString path(const char* name) const { return m_dir.filePath(QString::fromLatin1(name)); }

private slots:
    void negativeStepsAreRefused()
    {
        // -5 used to mean "the plan's default" and ran 16 steps.
        const CliResult r = runCli({QStringLiteral("run"), kTinyPlan, QStringLiteral("--steps"), QStringLiteral("-5"),
                                    QStringLiteral("--no-store")});
        QVERIFY2(r.exitCode != 0 && r.exitCode != -1, r.err.constData());
        QVERIFY2(r.err.contains("--steps"), r.err.constData());
        QVERIFY2(!r.out.contains("Running"), r.out.constData());
    }

    void sinceMustBeADate()
    {
        {
            const shard::RunStore created(path("since.db").toStdString());
        }
        const CliResult r = runCli({QStringLiteral("history"), QStringLiteral("--db"), path("since.db"),
                                    QStringLiteral("list"), QStringLiteral("--since"), QStringLiteral("garbage")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("since 'garbage' is not a UTC date or time"), r.err.constData());
    }

    void batchBeyond32BitsIsRefused()
    {
        const CliResult r = runCli({QStringLiteral("plan"), QStringLiteral("--batch"), QStringLiteral("4294967304")});
        QVERIFY2(r.exitCode != 0 && r.exitCode != -1, r.err.constData());
        QVERIFY2(r.err.contains("--batch"), r.err.constData());
    }

    void outputToAFullDeviceIsAFailure()
    {
        const CliResult r = runCli({QStringLiteral("models")},
                                   [](QProcess& p) { p.setStandardOutputFile(QStringLiteral("/dev/full")); });
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("writing standard output failed"), r.err.constData());
    }

    void jsonErrorQuotingInvalidUtf8StaysAJsonLine()
    {
        // The error names a file whose name is not UTF-8; dumping it aborted the process.
        // QString cannot carry such bytes, so the shell puts them into argv.
        QProcess process;
        process.setProcessEnvironment(shard::test::scratchEnvironment());
        process.start(QStringLiteral("/bin/sh"),
                      {QStringLiteral("-c"),
                       QStringLiteral("exec \"$0\" --json model show \"$(printf '/nonexistent/\\377\\376.json')\""),
                       QStringLiteral(SHARD_BIN_DIR "/shardstudio-cli")});
        QVERIFY(process.waitForFinished(60000));
        QCOMPARE(process.exitStatus(), QProcess::NormalExit);
        QCOMPARE(process.exitCode(), 1);
        const QByteArray out = process.readAllStandardOutput();
        const QJsonObject error = lastJsonLine(out);
        QCOMPARE(error[QStringLiteral("event")].toString(), QStringLiteral("error"));
        QVERIFY2(error[QStringLiteral("message")].toString().contains(QStringLiteral("/nonexistent/\uFFFD")),
                 out.constData());
    }

    void deeplyNestedFieldIsRefused()
    {
        QFile f(path("deep.json"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"name\": " + QByteArray(100000, '[') + QByteArray(100000, ']') + "}\n");
        f.close();
        const CliResult r = runCli({QStringLiteral("model"), QStringLiteral("show"), f.fileName()});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("JSON nested deeper than 64 levels"), r.err.constData());
    }

    void hugeLayerCountIsRefusedAtOnce()
    {
        shard::Json model = shard::read_json_file(SHARD_SOURCE_DIR "/resources/models/tiny-dense.json");
        model["layers"] = 2147483647;
        shard::write_text_file(path("layers.json").toStdString(), model.dump());
        const CliResult r = runCli({QStringLiteral("plan"), QStringLiteral("--model"), path("layers.json")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("field 'layers' must be at most 4096, got 2147483647"), r.err.constData());
    }

    void exportOfAnInfeasiblePlanFails()
    {
        shard::Json plan = shard::read_json_file(SHARD_SOURCE_DIR "/plans/llama-3.1-70b-dgx-h100-tp8.shardplan.json");
        plan["strategy"]["tensor"]["shape"] = {1};
        plan["strategy"].erase("placement");
        shard::write_text_file(path("tp1.shardplan.json").toStdString(), plan.dump());
        const CliResult r = runCli(
            {QStringLiteral("export"), path("tp1.shardplan.json"), QStringLiteral("--to"), QStringLiteral("vllm")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("is not feasible"), r.err.constData());
        QVERIFY2(!r.out.contains("vllm serve"), r.out.constData());
    }

    void weightsThatFailToLoadLeaveAFailedRunWithTheReason()
    {
        // A shape axis that is a string used to escape as a library exception: the run
        // stayed "running" and its message was lost.
        const QString weights = path("bad.safetensors");
        QFile f(weights);
        QVERIFY(f.open(QIODevice::WriteOnly));
        const QByteArray header = R"({"embed":{"dtype":"F32","shape":["a",2],"data_offsets":[0,8]}})";
        const quint64 size = quint64(header.size());
        f.write(reinterpret_cast<const char*>(&size), 8);
        f.write(header + QByteArray(8, '\0'));
        f.close();
        const QString db = path("weights.db");
        const CliResult r = runCli(
            {QStringLiteral("run"), kTinyPlan, QStringLiteral("--weights"), weights, QStringLiteral("--db"), db});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("tensor 'embed'"), r.err.constData());
        const CliResult history = runCli(
            {QStringLiteral("history"), QStringLiteral("--db"), db, QStringLiteral("list"), QStringLiteral("--json")});
        const QJsonArray runs = shard::test::jsonOf(history).array();
        QCOMPARE(runs.size(), 1);
        QCOMPARE(runs[0][QStringLiteral("status")].toString(), QStringLiteral("failed"));
        QVERIFY2(runs[0][QStringLiteral("message")].toString().contains(QStringLiteral("tensor 'embed'")),
                 history.out.constData());
    }

    void sigtermWhileTheDatabaseIsLockedEndsTheRun()
    {
        const QString db = path("locked.db");
        QVERIFY(runCli({QStringLiteral("history"), QStringLiteral("--db"), db, QStringLiteral("delete"),
                        QStringLiteral("1"), QStringLiteral("--yes")})
                    .exitCode
                == 1); // creates the database
        shard::SqliteDb holder(db.toStdString(), shard::SqliteDb::Mode::ReadWrite);
        holder.exec("BEGIN EXCLUSIVE");
        QProcess process;
        process.setProcessEnvironment(shard::test::scratchEnvironment());
        process.start(QStringLiteral(SHARD_BIN_DIR "/shardstudio-cli"),
                      {QStringLiteral("run"), kTinyPlan, QStringLiteral("--db"), db});
        QVERIFY(process.waitForStarted());
        QTest::qWait(3000); // it is waiting for the lock now (20 s before it would give up)
        QElapsedTimer timer;
        timer.start();
        process.terminate();
        QVERIFY(process.waitForFinished(10000));
        QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed())));
        QVERIFY(process.exitCode() != 0);
        const QByteArray err = process.readAllStandardError();
        QVERIFY2(err.contains("cancelled while waiting for the run database"), err.constData());
        holder.exec("ROLLBACK");
    }

    void nothingFitsSaysWhatWould()
    {
        const CliResult r = runCli({QStringLiteral("plan"), QStringLiteral("--model"), QStringLiteral("llama-3.1-405b"),
                                    QStringLiteral("--topology"), QStringLiteral("dgx-h100")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("0 feasible of"), r.out.constData());
        QVERIFY2(r.out.contains("Nothing fits: it would fit with fp8 weights and KV cache ("), r.out.constData());
        const CliResult json = runCli({QStringLiteral("plan"), QStringLiteral("--model"),
                                       QStringLiteral("llama-3.1-405b"), QStringLiteral("--json")});
        const QJsonArray hints = shard::test::jsonOf(json).object()[QStringLiteral("fit_hints")].toArray();
        QVERIFY(!hints.isEmpty());
        QVERIFY(hints[0][QStringLiteral("feasible")].toInt() > 0);
    }

    void historyOfAMissingDatabaseSaysSo()
    {
        const CliResult r =
            runCli({QStringLiteral("history"), QStringLiteral("--db"), path("absent.db"), QStringLiteral("list")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("absent.db: no run database here yet"), r.err.constData());
        QVERIFY(!QFile::exists(path("absent.db")));
    }

    void historyExportWritesThroughASymlink()
    {
        const QString target = path("runs.json");
        const QString link = path("link.json");
        QVERIFY(QFile::link(target, link));
        {
            const shard::RunStore created(path("export.db").toStdString());
        }
        const CliResult r = runCli(
            {QStringLiteral("history"), QStringLiteral("--db"), path("export.db"), QStringLiteral("export"), link});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(QFileInfo(link).isSymLink());
        QVERIFY(QFileInfo(target).isFile());
    }
};

QTEST_GUILESS_MAIN(TestCliHostile)
#include "tst_cli_hostile.moc"
