// Topology presets, the GPU catalog and local GPU detection.
#include "core/gpu_catalog.h"
#include "core/gpu_detect.h"
#include "core/presets.h"
#include "cuda/backend_info.h"

#include <QtTest>

using namespace shard;

class TestTopology : public QObject {
    Q_OBJECT

private slots:
    void presets_data()
    {
        QTest::addColumn<QString>("id");
        QTest::addColumn<int>("nodes");
        QTest::addColumn<int>("gpusPerNode");
        QTest::addColumn<QString>("gpu");
        QTest::addColumn<QString>("intra");
        QTest::addColumn<double>("networkPerGpu");
        QTest::addRow("1x-h100") << QStringLiteral("1x-h100") << 1 << 1 << QStringLiteral("H100 SXM 80GB")
                                 << QStringLiteral("none") << 0.0;
        QTest::addRow("dgx-h100") << QStringLiteral("dgx-h100") << 1 << 8 << QStringLiteral("H100 SXM 80GB")
                                  << QStringLiteral("nvswitch") << 0.0;
        // 8 NICs for 8 GPUs: each GPU gets one NDR NIC's 47 GB/s.
        QTest::addRow("2x-dgx-h100") << QStringLiteral("2x-dgx-h100") << 2 << 8 << QStringLiteral("H100 SXM 80GB")
                                     << QStringLiteral("nvswitch") << 47.0;
        QTest::addRow("4x-dgx-h100") << QStringLiteral("4x-dgx-h100") << 4 << 8 << QStringLiteral("H100 SXM 80GB")
                                     << QStringLiteral("nvswitch") << 47.0;
        QTest::addRow("16x-dgx-h100") << QStringLiteral("16x-dgx-h100") << 16 << 8 << QStringLiteral("H100 SXM 80GB")
                                      << QStringLiteral("nvswitch") << 47.0;
        QTest::addRow("8x-h200") << QStringLiteral("8x-h200") << 1 << 8 << QStringLiteral("H200 SXM 141GB")
                                 << QStringLiteral("nvswitch") << 0.0;
        QTest::addRow("2x-hgx-h200") << QStringLiteral("2x-hgx-h200") << 2 << 8 << QStringLiteral("H200 SXM 141GB")
                                     << QStringLiteral("nvswitch") << 47.0;
        QTest::addRow("8x-a100-sxm") << QStringLiteral("8x-a100-sxm") << 1 << 8 << QStringLiteral("A100 SXM 80GB")
                                     << QStringLiteral("nvswitch") << 0.0;
        QTest::addRow("4x-l40s-pcie") << QStringLiteral("4x-l40s-pcie") << 1 << 4 << QStringLiteral("L40S")
                                      << QStringLiteral("pcie") << 0.0;
        QTest::addRow("gb200-nvl72") << QStringLiteral("gb200-nvl72") << 1 << 72 << QStringLiteral("GB200")
                                     << QStringLiteral("nvswitch") << 0.0;
    }

    void presets()
    {
        QFETCH(QString, id);
        QFETCH(int, nodes);
        QFETCH(int, gpusPerNode);
        QFETCH(QString, gpu);
        QFETCH(QString, intra);
        QFETCH(double, networkPerGpu);
        const Topology t = PresetLibrary::instance().topology(id.toStdString());
        QCOMPARE(QString::fromStdString(t.id), id);
        QCOMPARE(t.nodes, nodes);
        QCOMPARE(t.gpus_per_node, gpusPerNode);
        QCOMPARE(t.total_gpus(), nodes * gpusPerNode);
        QCOMPARE(QString::fromStdString(t.gpu.name), gpu);
        QCOMPARE(QString::fromStdString(t.intra.kind), intra);
        QCOMPARE(t.inter_busbw_per_gpu_gbps(), networkPerGpu);
    }

    void dgxH100Figures()
    {
        const Topology t = PresetLibrary::instance().topology("dgx-h100");
        QCOMPARE(t.gpu.memory_bytes, qint64(80) * 1024 * 1024 * 1024);
        QCOMPARE(t.gpu.bf16_tflops, 989.0);
        QCOMPARE(t.gpu.hbm_gbps, 3350.0);
        QCOMPARE(t.total_memory_bytes(), qint64(640) * 1024 * 1024 * 1024);
    }

    void presetFileNamesMatchIds()
    {
        const auto& library = PresetLibrary::instance();
        QVERIFY(library.topologies().size() >= 10);
        for (const auto& t : library.topologies()) {
            const auto file = library.data_dir() / "topologies" / (t.id + ".json");
            QVERIFY2(std::filesystem::exists(file), t.id.c_str());
        }
        for (const auto& m : library.models()) {
            const auto file = library.data_dir() / "models" / (m.id + ".json");
            QVERIFY2(std::filesystem::exists(file), m.id.c_str());
        }
    }

    void jsonRoundTrip()
    {
        for (const auto& t : PresetLibrary::instance().topologies()) {
            const Topology back = topology_from_json(Json::parse(topology_to_json(t).dump()), "round-trip");
            QVERIFY2(back == t, t.id.c_str());
        }
    }

    void unknownPresetListsTheKnownOnes()
    {
        try {
            PresetLibrary::instance().topology("dgx-h1000");
            QFAIL("unknown topology accepted");
        } catch (const Error& e) {
            const QString message = QString::fromUtf8(e.what());
            QVERIFY(message.startsWith(QStringLiteral("unknown topology 'dgx-h1000'")));
            QVERIFY(message.contains(QStringLiteral("dgx-h100")));
        }
    }

    void invalidTopologyNamesTheField_data()
    {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("expected");
        const QString gpu =
            QStringLiteral("\"gpu\": {\"name\": \"X\", \"memory_gib\": 80, \"bf16_tflops\": 900, \"hbm_gbps\": 3000}");
        QTest::addRow("no gpus") << QStringLiteral("{\"nodes\": 1, \"gpus_per_node\": 0, ") + gpu + QStringLiteral("}")
                                 << QStringLiteral("field 'gpus_per_node' must be positive");
        QTest::addRow("no gpu kind") << QStringLiteral("{\"nodes\": 1, \"gpus_per_node\": 8}")
                                     << QStringLiteral("missing required field 'gpu'");
        QTest::addRow("no fabric") << QStringLiteral("{\"nodes\": 1, \"gpus_per_node\": 8, ") + gpu
                                          + QStringLiteral("}")
                                   << QStringLiteral("needs 'intra.busbw_gbps'");
        QTest::addRow("no network") << QStringLiteral("{\"nodes\": 2, \"gpus_per_node\": 1, ") + gpu
                                           + QStringLiteral("}")
                                    << QStringLiteral("several nodes need 'inter.busbw_gbps'");
        QTest::addRow("negative memory") << QStringLiteral(
            "{\"nodes\": 1, \"gpus_per_node\": 1, \"gpu\": {\"name\": \"X\", \"memory_gib\": -1, "
            "\"bf16_tflops\": 1, \"hbm_gbps\": 1}}")
                                         << QStringLiteral("field 'memory_gib' must be a positive number");
    }

    void invalidTopologyNamesTheField()
    {
        QFETCH(QString, json);
        QFETCH(QString, expected);
        try {
            topology_from_json(parse_json_text(json.toStdString(), "topo.json"), "topo.json");
            QFAIL("invalid topology accepted");
        } catch (const Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains(expected), e.what());
        }
    }

    void gpuCatalogMatchesDriverNames_data()
    {
        QTest::addColumn<QString>("driverName");
        QTest::addColumn<QString>("kind");
        QTest::addRow("h100 sxm") << QStringLiteral("NVIDIA H100 80GB HBM3") << QStringLiteral("H100 SXM 80GB");
        QTest::addRow("h100 pcie") << QStringLiteral("NVIDIA H100 PCIe") << QStringLiteral("H100 PCIe 80GB");
        QTest::addRow("h200") << QStringLiteral("NVIDIA H200") << QStringLiteral("H200 SXM 141GB");
        QTest::addRow("a100 80") << QStringLiteral("NVIDIA A100-SXM4-80GB") << QStringLiteral("A100 SXM 80GB");
        QTest::addRow("a100 40") << QStringLiteral("NVIDIA A100-SXM4-40GB") << QStringLiteral("A100 40GB");
        QTest::addRow("l40s") << QStringLiteral("NVIDIA L40S") << QStringLiteral("L40S");
    }

    void gpuCatalogMatchesDriverNames()
    {
        QFETCH(QString, driverName);
        QFETCH(QString, kind);
        const auto entry = find_gpu_kind(driverName.toStdString());
        QVERIFY(entry.has_value());
        QCOMPARE(QString::fromStdString(entry->gpu.name), kind);
        QVERIFY(!find_gpu_kind("Matrox G200").has_value());
    }

    void topologyFromDetectedGpus()
    {
        GpuDetection d;
        d.driver_found = true;
        for (int i = 0; i < 4; ++i)
            d.gpus.push_back({i, "NVIDIA H100 80GB HBM3", 85'520'809'984, 18});
        const Topology t = topology_from_detection(d);
        QCOMPARE(t.gpus_per_node, 4);
        QCOMPARE(t.gpu.memory_bytes, qint64(85'520'809'984)); // what the driver reports wins
        QCOMPARE(t.gpu.bf16_tflops, 989.0);
        QCOMPARE(QString::fromStdString(t.intra.kind), QStringLiteral("nvswitch"));
        d.gpus[0].active_nvlinks = 0; // no NVLink: PCIe
        QCOMPARE(QString::fromStdString(topology_from_detection(d).intra.kind), QStringLiteral("pcie"));
    }

    void detectionWithoutGpusSaysWhy()
    {
        const GpuDetection d = detect_local_gpus();
        if (!d.gpus.empty())
            QSKIP("this machine has GPUs; the no-GPU message is checked on machines without them");
        QVERIFY(!d.message.empty());
        try {
            topology_from_detection(d);
            QFAIL("a topology without GPUs was built");
        } catch (const Error& e) {
            QVERIFY(QString::fromUtf8(e.what()).startsWith(QStringLiteral("no local GPU")));
        }
    }

    void cudaBackendReportsItsState()
    {
        const auto info = cuda::backend_info();
        QVERIFY(!info.status.empty());
        if (!info.compiled)
            QCOMPARE(QString::fromStdString(info.status), QStringLiteral("not compiled"));
        if (!info.usable())
            QVERIFY(!info.reason.empty()); // the GUI shows this next to the disabled backend
    }
};

QTEST_GUILESS_MAIN(TestTopology)
#include "tst_topology.moc"
