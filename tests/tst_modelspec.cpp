// Parameter counts and KV-cache sizes of the model presets against published figures.
#include "core/model_json.h"
#include "core/presets.h"

#include <QtTest>

using namespace shard;

class TestModelSpec : public QObject {
    Q_OBJECT

private:
    static ModelSpec preset(const QString& id) { return PresetLibrary::instance().model(id.toStdString()); }

private slots:
    void totalParameters_data()
    {
        QTest::addColumn<QString>("id");
        QTest::addColumn<qint64>("params");
        // Published figures (model cards / safetensors metadata).
        QTest::addRow("llama-2-7b") << QStringLiteral("llama-2-7b") << qint64(6'738'415'616);
        QTest::addRow("llama-2-70b") << QStringLiteral("llama-2-70b") << qint64(68'976'648'192);
        QTest::addRow("mixtral-8x7b") << QStringLiteral("mixtral-8x7b") << qint64(46'702'792'704);
        QTest::addRow("gpt2") << QStringLiteral("gpt2") << qint64(124'439'808);
        QTest::addRow("llama-3.1-8b") << QStringLiteral("llama-3.1-8b") << qint64(8'030'261'248);
        QTest::addRow("llama-3.1-70b") << QStringLiteral("llama-3.1-70b") << qint64(70'553'706'496);
        QTest::addRow("llama-3.1-405b") << QStringLiteral("llama-3.1-405b") << qint64(405'853'388'800);
        QTest::addRow("mixtral-8x22b") << QStringLiteral("mixtral-8x22b") << qint64(140'620'634'112);
        QTest::addRow("qwen2.5-72b") << QStringLiteral("qwen2.5-72b") << qint64(72'706'203'648);
        QTest::addRow("qwen3-235b-a22b") << QStringLiteral("qwen3-235b-a22b") << qint64(235'093'634'560);
        // 671B without the multi-token-prediction module (which the checkpoint adds on top).
        QTest::addRow("deepseek-v3") << QStringLiteral("deepseek-v3") << qint64(671'026'419'200);
    }

    void totalParameters()
    {
        QFETCH(QString, id);
        QFETCH(qint64, params);
        QCOMPARE(preset(id).total_params(), params);
    }

    void activeParameters_data()
    {
        QTest::addColumn<QString>("id");
        QTest::addColumn<qint64>("active");
        // Mixtral: 2 of 8 experts -> "12.9B active"; DeepSeek-V3 "37B activated";
        // Qwen3-235B-A22B "22B activated". Dense models: active == total.
        QTest::addRow("mixtral-8x7b") << QStringLiteral("mixtral-8x7b") << qint64(12'879'925'248);
        QTest::addRow("deepseek-v3") << QStringLiteral("deepseek-v3") << qint64(37'552'297'472);
        QTest::addRow("qwen3-235b-a22b") << QStringLiteral("qwen3-235b-a22b") << qint64(22'190'763'520);
        QTest::addRow("llama-2-7b dense") << QStringLiteral("llama-2-7b") << qint64(6'738'415'616);
    }

    void activeParameters()
    {
        QFETCH(QString, id);
        QFETCH(qint64, active);
        QCOMPARE(preset(id).active_params(), active);
    }

    void llama2PerLayerBreakdown()
    {
        // Llama-2-7B by hand: attention 4 h^2, gated MLP 3 h f, two RMSNorms of h.
        const ModelSpec m = preset(QStringLiteral("llama-2-7b"));
        QCOMPARE(m.attention_params(), qint64(4) * 4096 * 4096);
        QCOMPARE(m.dense_mlp_params(), qint64(3) * 4096 * 11008);
        QCOMPARE(m.layer_params(0), qint64(4) * 4096 * 4096 + qint64(3) * 4096 * 11008 + 2 * 4096);
        QCOMPARE(m.embedding_params(), qint64(32000) * 4096);
        QCOMPARE(m.lm_head_params(), qint64(32000) * 4096);
    }

    void gpt2LearnedPositionsAndTiedHead()
    {
        const ModelSpec m = preset(QStringLiteral("gpt2"));
        QCOMPARE(m.embedding_params(), qint64(50257) * 768 + qint64(1024) * 768);
        QCOMPARE(m.lm_head_params(), qint64(0));
        QCOMPARE(m.norm_params(), qint64(2) * 768); // LayerNorm: weight and bias
    }

    void kvCacheBytesPerToken_data()
    {
        QTest::addColumn<QString>("id");
        QTest::addColumn<int>("elementBytes");
        QTest::addColumn<qint64>("bytes");
        // 2 (K and V) x layers x kv_heads x head_dim x bytes.
        QTest::addRow("llama-2-70b bf16") << QStringLiteral("llama-2-70b") << 2 << qint64(327'680);
        QTest::addRow("llama-2-7b bf16") << QStringLiteral("llama-2-7b") << 2 << qint64(524'288);
        QTest::addRow("llama-3.1-8b fp8") << QStringLiteral("llama-3.1-8b") << 1 << qint64(65'536);
        QTest::addRow("gpt2 fp32") << QStringLiteral("gpt2") << 4 << qint64(73'728);
        // MLA caches the 512-wide latent plus the 64-wide rotary key: 61 x 576 x 2.
        QTest::addRow("deepseek-v3 mla bf16") << QStringLiteral("deepseek-v3") << 2 << qint64(70'272);
    }

    void kvCacheBytesPerToken()
    {
        QFETCH(QString, id);
        QFETCH(int, elementBytes);
        QFETCH(qint64, bytes);
        QCOMPARE(preset(id).kv_cache_bytes_per_token(elementBytes), bytes);
    }

    void moeLayerPattern()
    {
        const ModelSpec m = preset(QStringLiteral("deepseek-v3"));
        QVERIFY(!m.is_moe_layer(0));
        QVERIFY(!m.is_moe_layer(2));
        QVERIFY(m.is_moe_layer(3));
        QVERIFY(m.is_moe_layer(60));
        QCOMPARE(m.moe_layer_count(), 58);
        ModelSpec every_other = m;
        every_other.moe->layer_freq = 2;
        QCOMPARE(every_other.moe_layer_count(), 29); // layers 3, 5, ..., 59
    }

    void jsonRoundTripOfEveryPreset()
    {
        for (const auto& m : PresetLibrary::instance().models()) {
            const ModelSpec back = model_from_json(Json::parse(model_to_json(m).dump()), "round-trip");
            QVERIFY2(back == m, m.id.c_str());
        }
    }

    void presetIdsAreLowercaseWithDashes()
    {
        const auto& models = PresetLibrary::instance().models();
        QVERIFY(models.size() >= 13);
        for (const auto& m : models) {
            for (const char c : m.id)
                QVERIFY2(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c))
                             || c == '-' || c == '.',
                         m.id.c_str());
        }
        for (const char* id :
             {"llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mixtral-8x7b",
              "mixtral-8x22b", "qwen2.5-72b", "qwen3-235b-a22b", "deepseek-v3", "gpt2", "tiny-dense", "tiny-moe"})
            QCOMPARE(QString::fromStdString(PresetLibrary::instance().model(id).id), QString::fromLatin1(id));
    }

    void tinyPresetsFitTheCpuReference()
    {
        for (const char* id : {"tiny-dense", "tiny-moe"}) {
            const ModelSpec m = PresetLibrary::instance().model(id);
            QVERIFY2(m.total_params() < 10'000'000, id);
        }
        QVERIFY(PresetLibrary::instance().model("tiny-moe").is_moe());
        QVERIFY(!PresetLibrary::instance().model("tiny-dense").is_moe());
    }

    void validationNamesTheField_data()
    {
        QTest::addColumn<QString>("field");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("message");
        QTest::addRow("zero layers") << QStringLiteral("layers") << QStringLiteral("0")
                                     << QStringLiteral("'layers' must be positive");
        QTest::addRow("negative hidden") << QStringLiteral("hidden") << QStringLiteral("-5")
                                         << QStringLiteral("'hidden' must not be negative");
        QTest::addRow("string heads") << QStringLiteral("heads") << QStringLiteral("\"many\"")
                                      << QStringLiteral("'heads' must be a non-negative integer");
        QTest::addRow("kv not dividing") << QStringLiteral("kv_heads") << QStringLiteral("5")
                                         << QStringLiteral("multiple of kv_heads");
        QTest::addRow("bad norm") << QStringLiteral("norm") << QStringLiteral("\"batchnorm\"")
                                  << QStringLiteral("unknown norm 'batchnorm'");
        QTest::addRow("bad dtype") << QStringLiteral("dtype") << QStringLiteral("\"int3\"")
                                   << QStringLiteral("unknown dtype 'int3'");
    }

    void validationNamesTheField()
    {
        QFETCH(QString, field);
        QFETCH(QString, value);
        QFETCH(QString, message);
        Json json = Json::parse(model_to_json(PresetLibrary::instance().model("llama-2-7b")).dump());
        json[field.toStdString()] = Json::parse(value.toStdString());
        try {
            model_from_json(json, "model.json");
            QFAIL("invalid model accepted");
        } catch (const Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains(message), e.what());
            QVERIFY2(QString::fromUtf8(e.what()).startsWith(QStringLiteral("model.json")), e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestModelSpec)
#include "tst_modelspec.moc"
