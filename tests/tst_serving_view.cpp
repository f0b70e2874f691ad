// The Serving tab on its own: a trace loaded in place of the generated traffic (a broken one
// refused with its line, the traffic unchanged), shared prefixes and the prefix cache
// switch reaching the search, the launch commands saved with the replay trace beside them; a
// second machine and the GPU prices per kind reaching the search.
#include "ui/serving_view.h"

#include "core/presets.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

using namespace shard;
using namespace shard::ui;

namespace {

bool writeFile(const QString& path, const QByteArray& text)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(text) == text.size();
}

QString readFile(const QString& path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? QString::fromUtf8(file.readAll()) : QString();
}

} // namespace

class TestServingView : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        qputenv("XDG_DATA_HOME", m_dir.path().toUtf8()); // no user's run database
    }

    void aTraceReplacesTheGeneratedTrafficAndIsSavedForReplay()
    {
        ServingView view;
        const auto& presets = PresetLibrary::instance();
        view.setDeploymentBase(presets.model("llama-3.1-8b"), presets.topology("dgx-h100"), DType::BF16, DType::BF16,
                               TableSource::Shipped);
        auto* label = view.findChild<QLabel*>(QStringLiteral("servingTraceLabel"));
        QCOMPARE(label->text(), QStringLiteral("generated"));

        const QString broken = m_dir.filePath(QStringLiteral("broken.csv"));
        QVERIFY(writeFile(broken, "arrival_s,prompt_tokens,output_tokens\n0,100,8\n0.5,-3,8\n"));
        QVERIFY(!view.loadTrace(broken));
        QVERIFY2(view.statusText().startsWith(QStringLiteral("The trace was not loaded: ") + broken
                                              + QStringLiteral(" line 3")),
                 qPrintable(view.statusText()));
        QCOMPARE(label->text(), QStringLiteral("generated"));
        QCOMPARE(view.inputs().trace, nullptr);

        // 40 requests over 3.9 s, every prompt 1200 tokens of which one system prompt of 1024.
        QByteArray csv = "arrival_s,prompt_tokens,output_tokens,prefix_id,prefix_tokens\n";
        for (int i = 0; i < 40; ++i)
            csv += QByteArray::number(i * 0.1) + ",1200,32,sys,1024\n";
        const QString trace = m_dir.filePath(QStringLiteral("chat.csv"));
        QVERIFY(writeFile(trace, csv));
        QVERIFY(view.loadTrace(trace));
        QCOMPARE(label->text(), QStringLiteral("trace chat.csv: 40 requests, 10.00 req/s, prompts 1200 and outputs 32 "
                                               "tokens on average"));
        const ServingInputs in = view.inputs();
        QCOMPARE(in.requests().size(), std::size_t(40));
        QCOMPARE(in.requests()[3].prefix_tokens, 1024);
        QCOMPARE(in.traffic.requests, 40);
        QVERIFY(!view.findChild<QDoubleSpinBox*>()->isEnabled()); // the generated traffic's fields

        QSignalSpy finished(&view, &ServingView::searchFinished);
        view.startSearch();
        QVERIFY(finished.wait(60000));
        QVERIFY2(view.deploymentCount() > 0, qPrintable(view.statusText()));
        QTRY_VERIFY_WITH_TIMEOUT(!view.launchText().isEmpty(), 20000);
        QVERIFY(view.launchText().contains(QStringLiteral("--enable-prefix-caching")));
        QVERIFY(view.launchText().contains(QStringLiteral("chat.csv")));

        const QString script = m_dir.filePath(QStringLiteral("deploy.sh"));
        QVERIFY2(view.saveLaunch(script), qPrintable(view.statusText()));
        const QString saved = readFile(script);
        for (const char* engine : {"# ---- vllm ----", "# ---- sglang ----", "# ---- trtllm ----"})
            QVERIFY2(saved.contains(QLatin1String(engine)), qPrintable(saved));
        QVERIFY(saved.contains(QStringLiteral("aiperf profile")));
        QVERIFY(saved.contains(QStringLiteral("--input-file deploy.sh.replay.jsonl")));
        QVERIFY(saved.contains(QStringLiteral("\n# note: ")));
        const QString replay = readFile(script + QStringLiteral(".replay.jsonl"));
        QCOMPARE(replay.count(QLatin1Char('\n')), 40);
        QVERIFY(replay.startsWith(QStringLiteral("{\"timestamp\": 0, \"input_length\": 1200, \"output_length\": 32, "
                                                 "\"hash_ids\": [0, 1, 2]}")));
        QVERIFY(!view.saveLaunch(QStringLiteral("/nonexistent-dir/deploy.sh")));
        QVERIFY(view.statusText().startsWith(QStringLiteral("Nothing saved: cannot write the replay trace")));

        // Back to generated traffic, without the prefix cache.
        view.clearTrace();
        QCOMPARE(label->text(), QStringLiteral("generated"));
        QVERIFY(view.findChild<QDoubleSpinBox*>()->isEnabled());
        view.findChild<QCheckBox*>()->setChecked(false);
        QCOMPARE(view.inputs().trace, nullptr);
        QVERIFY(!view.inputs().space.prefix_caching);
    }

    void aSecondMachineAndItsPriceReachTheSearch()
    {
        ServingView view;
        const auto& presets = PresetLibrary::instance();
        view.setDeploymentBase(presets.model("llama-3.1-8b"), presets.topology("2x-dgx-h100"), DType::BF16, DType::BF16,
                               TableSource::Auto);
        auto* alsoOn = view.findChild<QComboBox*>(QStringLiteral("servingAlsoOn"));
        auto* prices = view.findChild<QLineEdit*>(QStringLiteral("servingPrices"));
        QVERIFY(alsoOn && prices);
        QCOMPARE(view.inputs().machines().size(), std::size_t(1));
        alsoOn->setCurrentIndex(alsoOn->findData(QStringLiteral("2x-hgx-h200")));
        prices->setText(QStringLiteral("h100=2, h200=3"));
        view.findChild<QSpinBox*>()->setValue(100); // requests simulated
        const ServingInputs in = view.inputs();
        QCOMPARE(in.machines().size(), std::size_t(2));
        QCOMPARE(in.also_on->gpu.name, std::string("H200 SXM 141GB"));
        QCOMPARE(in.space.prices.usd_per_gpu_hour(in.also_on->gpu), 3.0);

        QSignalSpy finished(&view, &ServingView::searchFinished);
        view.resize(1600, 1000);
        view.startSearch();
        QVERIFY(finished.wait(60000));
        QVERIFY2(view.deploymentCount() > 0, qPrintable(view.statusText()));
        QVERIFY(!view.table()->isColumnHidden(1));
        int across = -1;
        for (int row = 0; row < view.deploymentCount() && across < 0; ++row)
            if (view.table()->model()->index(row, 1).data().toString().contains(QStringLiteral(" prefill, ")))
                across = row;
        QVERIFY(across >= 0);
        QVERIFY(view.selectDeployment(across));
        QTRY_VERIFY_WITH_TIMEOUT(view.launchText().contains(QStringLiteral("on the H200 SXM 141GB nodes")), 20000);
        const QString shots = QStringLiteral(SHARD_BIN_DIR "/../screenshots");
        QDir().mkpath(shots);
        QVERIFY(view.grab().save(shots + QStringLiteral("/serving-two-kinds.png")));
        view.resize(1366, 768);
        QVERIFY(view.grab().save(shots + QStringLiteral("/serving-two-kinds-1366.png")));

        // A price that does not parse is named, and nothing is searched.
        prices->setText(QStringLiteral("h100=abc"));
        finished.clear();
        view.startSearch();
        QCOMPARE(finished.size(), 1);
        QCOMPARE(view.statusText(),
                 QStringLiteral("a GPU-hour price is a number of US dollars, at least 0: 'h100=abc'"));
        alsoOn->setCurrentIndex(0);
        prices->setText(QString());
        QCOMPARE(view.inputs().machines().size(), std::size_t(1));
        QVERIFY(view.inputs().space.prices.empty());
    }

private:
    QTemporaryDir m_dir;
};

QTEST_MAIN(TestServingView)
#include "tst_serving_view.moc"
