// Hugging Face config.json import: every supported family, and every way a file can be wrong.
#include "core/hf_import.h"
#include "core/presets.h"

#include "test_support.h"

#include <QtTest>

using namespace shard;
using shard::test::errorOf;

namespace {

std::string fixture(const QString& name)
{
    return (QStringLiteral(SHARD_TEST_FIXTURES "/hf/") + name).toStdString();
}

} // namespace

class TestHfImport : public QObject {
    Q_OBJECT

private slots:
    void families_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("family");
        QTest::addColumn<qint64>("total");
        QTest::addColumn<qint64>("active");
        QTest::addColumn<qint64>("kvBytesPerToken");
        // Totals are the published parameter counts of each checkpoint.
        QTest::addRow("llama") << QStringLiteral("llama-2-7b.json") << QStringLiteral("llama") << qint64(6'738'415'616)
                               << qint64(6'738'415'616) << qint64(524'288);
        QTest::addRow("mistral") << QStringLiteral("mistral-7b.json") << QStringLiteral("mistral")
                                 << qint64(7'241'732'096) << qint64(7'241'732'096) << qint64(131'072);
        QTest::addRow("mixtral") << QStringLiteral("mixtral-8x7b.json") << QStringLiteral("mixtral")
                                 << qint64(46'702'792'704) << qint64(12'879'925'248) << qint64(131'072);
        QTest::addRow("qwen2") << QStringLiteral("qwen2.5-7b.json") << QStringLiteral("qwen2") << qint64(7'615'616'512)
                               << qint64(7'615'616'512) << qint64(57'344);
        QTest::addRow("qwen2_moe") << QStringLiteral("qwen1.5-moe-a2.7b.json") << QStringLiteral("qwen2_moe")
                                   << qint64(14'315'784'192) << qint64(2'689'173'504) << qint64(196'608);
        QTest::addRow("qwen3") << QStringLiteral("qwen3-8b.json") << QStringLiteral("qwen3") << qint64(8'190'735'360)
                               << qint64(8'190'735'360) << qint64(147'456);
        QTest::addRow("qwen3_moe") << QStringLiteral("qwen3-30b-a3b.json") << QStringLiteral("qwen3_moe")
                                   << qint64(30'532'122'624) << qint64(3'353'032'704) << qint64(98'304);
        QTest::addRow("deepseek_v3") << QStringLiteral("deepseek-v3.json") << QStringLiteral("deepseek_v3")
                                     << qint64(671'026'419'200) << qint64(37'552'297'472) << qint64(70'272);
        QTest::addRow("gpt2") << QStringLiteral("gpt2.json") << QStringLiteral("gpt2") << qint64(124'439'808)
                              << qint64(124'439'808) << qint64(73'728);
        QTest::addRow("gemma2") << QStringLiteral("gemma-2-9b.json") << QStringLiteral("gemma2")
                                << qint64(9'241'705'984) << qint64(9'241'705'984) << qint64(688'128);
    }

    void families()
    {
        QFETCH(QString, file);
        QFETCH(QString, family);
        QFETCH(qint64, total);
        QFETCH(qint64, active);
        QFETCH(qint64, kvBytesPerToken);
        const ModelSpec m = import_hf_config_file(fixture(file));
        QCOMPARE(QString::fromStdString(m.family), family);
        QCOMPARE(m.total_params(), total);
        QCOMPARE(m.active_params(), active);
        // In the checkpoint's own dtype (fp32 for GPT-2 and Gemma-2 9B here, 16-bit for the rest).
        QCOMPARE(m.kv_cache_bytes_per_token(), kvBytesPerToken);
    }

    void familySpecificFields()
    {
        const ModelSpec qwen2 = import_hf_config_file(fixture(QStringLiteral("qwen2.5-7b.json")));
        QVERIFY(qwen2.qkv_bias);
        QVERIFY(!qwen2.out_bias);
        const ModelSpec qwen3 = import_hf_config_file(fixture(QStringLiteral("qwen3-8b.json")));
        QVERIFY(qwen3.qk_norm);
        QCOMPARE(qwen3.head_dim, 128);
        const ModelSpec gemma = import_hf_config_file(fixture(QStringLiteral("gemma-2-9b.json")));
        QCOMPARE(gemma.head_dim, 256); // explicit, differs from 3584 / 16
        QCOMPARE(gemma.norms_per_layer, 4);
        QVERIFY(gemma.tied_embeddings);
        QCOMPARE(gemma.activation, Activation::GELUTanh);
        const ModelSpec deepseek = import_hf_config_file(fixture(QStringLiteral("deepseek-v3.json")));
        QVERIFY(deepseek.mla.has_value());
        QCOMPARE(deepseek.mla->kv_lora_rank, 512);
        QCOMPARE(deepseek.moe->first_dense_layers, 3);
        QCOMPARE(deepseek.moe->shared_experts, 1);
        QVERIFY(deepseek.moe->router_bias);
        const ModelSpec qwen_moe = import_hf_config_file(fixture(QStringLiteral("qwen1.5-moe-a2.7b.json")));
        QVERIFY(qwen_moe.moe->shared_expert_gate);
        QCOMPARE(qwen_moe.moe->shared_expert_ffn, qint64(5632));
        const ModelSpec gpt2 = import_hf_config_file(fixture(QStringLiteral("gpt2.json")));
        QCOMPARE(gpt2.position, PositionKind::Learned);
        QCOMPARE(gpt2.norm, NormKind::LayerNorm);
        QVERIFY(!gpt2.gated_mlp);
        QCOMPARE(gpt2.ffn, qint64(3072)); // n_inner absent -> 4 * n_embd
    }

    void namesComeFromThePathOrTheConfig()
    {
        const ModelSpec named = import_hf_config_file(fixture(QStringLiteral("llama-2-7b.json")));
        QCOMPARE(QString::fromStdString(named.name), QStringLiteral("Llama-2-7b-hf")); // _name_or_path
        const ModelSpec by_file = import_hf_config_file(fixture(QStringLiteral("qwen3-8b.json")));
        QCOMPARE(QString::fromStdString(by_file.id), QStringLiteral("qwen3-8b"));
    }

    void presetLookupAcceptsConfigFiles()
    {
        const ModelSpec m = PresetLibrary::instance().model(fixture(QStringLiteral("mixtral-8x7b.json")));
        QCOMPARE(m.total_params(), qint64(46'702'792'704));
    }

    void malformedInput_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::addRow("truncated") << QStringLiteral("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 4096,\n")
                                   << QStringLiteral("config.json: malformed JSON at line 4, column 1");
        QTest::addRow("trailing comma") << QStringLiteral("{\n  \"model_type\": \"llama\",\n}")
                                        << QStringLiteral("config.json: malformed JSON at line 3, column 1");
        QTest::addRow("garbage") << QStringLiteral("<html>404</html>")
                                 << QStringLiteral("config.json: malformed JSON at line 1, column 1");
        QTest::addRow("empty") << QString() << QStringLiteral("config.json: malformed JSON at line 1");
        QTest::addRow("not an object") << QStringLiteral("[1, 2]")
                                       << QStringLiteral("expected a JSON object, got array");
        QTest::addRow("no model_type") << QStringLiteral("{\"hidden_size\": 4096}")
                                       << QStringLiteral("missing required field 'model_type'");
        QTest::addRow("unknown model_type")
            << QStringLiteral("{\"model_type\": \"mamba\"}")
            << QStringLiteral(
                   "unsupported model_type 'mamba'; supported: deepseek_v2, deepseek_v3, gemma2, gpt2, llama, "
                   "mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe");
        QTest::addRow("missing hidden_size") << QStringLiteral("{\"model_type\": \"llama\", \"num_hidden_layers\": 2}")
                                             << QStringLiteral("config.json: missing required field 'hidden_size'");
        QTest::addRow("missing experts") << QStringLiteral(
            "{\"model_type\": \"mixtral\", \"num_hidden_layers\": 2, \"hidden_size\": 64, "
            "\"num_attention_heads\": 4, \"intermediate_size\": 128, \"vocab_size\": 100}")
                                         << QStringLiteral("missing required field 'num_local_experts'");
        QTest::addRow("wrong type")
            << QStringLiteral("{\"model_type\": \"llama\", \"num_hidden_layers\": \"32\"}")
            << QStringLiteral("field 'num_hidden_layers' must be a non-negative integer, got string \"32\"");
        QTest::addRow("negative") << QStringLiteral("{\"model_type\": \"llama\", \"num_hidden_layers\": -1}")
                                  << QStringLiteral("field 'num_hidden_layers' must not be negative");
        QTest::addRow("heads do not divide hidden")
            << QStringLiteral("{\"model_type\": \"llama\", \"num_hidden_layers\": 2, \"hidden_size\": 100, "
                              "\"num_attention_heads\": 3, \"intermediate_size\": 128, \"vocab_size\": 100}")
            << QStringLiteral("'num_attention_heads' does not divide hidden_size");
        QTest::addRow("kv heads do not divide heads")
            << QStringLiteral("{\"model_type\": \"llama\", \"num_hidden_layers\": 2, \"hidden_size\": 64, "
                              "\"num_attention_heads\": 4, \"num_key_value_heads\": 3, \"intermediate_size\": 128, "
                              "\"vocab_size\": 100}")
            << QStringLiteral("heads (4) must be a multiple of kv_heads (3)");
        QTest::addRow("bad dtype") << QStringLiteral(
            "{\"model_type\": \"llama\", \"num_hidden_layers\": 2, \"hidden_size\": 64, "
            "\"num_attention_heads\": 4, \"intermediate_size\": 128, \"vocab_size\": 100, "
            "\"torch_dtype\": \"int4\"}")
                                   << QStringLiteral("field 'torch_dtype' unknown dtype 'int4'");
        QTest::addRow("sparse step") << QStringLiteral(
            "{\"model_type\": \"qwen3_moe\", \"num_hidden_layers\": 2, \"hidden_size\": 64, "
            "\"num_attention_heads\": 4, \"intermediate_size\": 128, \"vocab_size\": 100, "
            "\"num_experts\": 4, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 32, "
            "\"decoder_sparse_step\": 2}")
                                     << QStringLiteral("'decoder_sparse_step' other than 1 is not supported");
    }

    void malformedInput()
    {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        const QString message = errorOf([&] { import_hf_config_text(text.toStdString(), "config.json"); });
        QVERIFY2(!message.isEmpty(), "malformed input accepted");
        QVERIFY2(message.contains(expected), qPrintable(message));
    }

    void missingFileNamesThePath()
    {
        const QString message = errorOf([] { import_hf_config_file("/nonexistent/config.json"); });
        QCOMPARE(message, QStringLiteral("/nonexistent/config.json: no such file"));
    }

    void importedModelIsValidForEveryFixture()
    {
        const QDir dir(QStringLiteral(SHARD_TEST_FIXTURES "/hf"));
        const auto files = dir.entryList({QStringLiteral("*.json")});
        QCOMPARE(files.size(), 10);
        for (const auto& file : files) {
            const ModelSpec m = import_hf_config_file(dir.filePath(file).toStdString());
            QVERIFY(m.total_params() > 0);
            m.validate();
        }
    }
};

QTEST_GUILESS_MAIN(TestHfImport)
#include "tst_hfimport.moc"
