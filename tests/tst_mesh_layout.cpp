// The one numbering of a plan's ranks (engine/run/mesh_layout.h) that the CPU executor and
// the CUDA engine share: stage-major, then replica, then tensor index; one tensor group per
// (stage, replica), one pipeline chain per offset in a stage.
#include "run/mesh_layout.h"

#include <QtTest>

#include <set>

using namespace shard;

class TestMeshLayout : public QObject {
    Q_OBJECT

private slots:
    void numbersEveryRankOnce_data()
    {
        QTest::addColumn<int>("pp");
        QTest::addColumn<int>("dp");
        QTest::addColumn<int>("t");
        QTest::addRow("tp8") << 1 << 1 << 8;
        QTest::addRow("pp4") << 4 << 1 << 1;
        QTest::addRow("dp2 x tp2") << 1 << 2 << 2;
        QTest::addRow("pp2 x dp2 x tp2") << 2 << 2 << 2;
        QTest::addRow("pp3 x tp4") << 3 << 1 << 4;
    }

    void numbersEveryRankOnce()
    {
        QFETCH(int, pp);
        QFETCH(int, dp);
        QFETCH(int, t);
        Strategy s;
        s.tensor_mode = t > 1 ? TensorMode::Megatron1D : TensorMode::None;
        s.tensor_shape = t > 1 ? std::vector<int>{t} : std::vector<int>{};
        s.pp = pp;
        s.dp = dp;
        const run::MeshLayout L = run::mesh_layout(s);
        QCOMPARE(L.ranks(), pp * dp * t);
        QCOMPARE(int(L.groups.size()), pp * dp);
        std::set<int> seen;
        for (std::size_t g = 0; g < L.groups.size(); ++g) {
            const run::MeshGroup& group = L.groups[g];
            QCOMPARE(group.stage, int(g) / dp); // stage-major
            QCOMPARE(group.replica, int(g) % dp);
            QCOMPARE(int(group.ranks.size()), t);
            for (int i = 0; i < t; ++i) {
                const int rank = group.ranks[std::size_t(i)];
                QVERIFY(seen.insert(rank).second);
                const int stage_size = dp * t;
                QCOMPARE(rank, group.stage * stage_size + group.replica * t + i);
                QCOMPARE(L.stage_of(rank), group.stage);
                QCOMPARE(L.replica_of(rank), group.replica);
                QCOMPARE(L.tensor_of(rank), i);
                QCOMPARE(L.rank(group.stage, group.replica, i), rank);
                // One tensor communicator per group; one pipeline chain per offset in a stage.
                QCOMPARE(L.tensor_color[std::size_t(rank)], t > 1 ? int(g) : -1);
                QCOMPARE(L.pipeline_color[std::size_t(rank)], pp > 1 ? group.replica * t + i : -1);
            }
        }
        QCOMPARE(int(seen.size()), L.ranks());
        if (pp == 2 && dp == 2 && t == 2) { // the second stage's first replica: ranks 4 and 5
            QCOMPARE(L.group(1, 0).ranks, (std::vector<int>{4, 5}));
            QCOMPARE(L.group(1, 1).ranks, (std::vector<int>{6, 7}));
        }
    }

    // DP2 x TP2 with EP4 (etp 1) and DP2 x TP4 with EP2 (etp 4): the EP groups join the
    // offsets equal modulo etp, the expert-TP groups the etp consecutive offsets.
    void expertGroupsSpanTheReplicasOfAStage()
    {
        Strategy s;
        s.tensor_mode = TensorMode::Megatron1D;
        s.tensor_shape = {2};
        s.pp = 2;
        s.dp = 2;
        s.ep = 4;
        const run::MeshLayout a = run::mesh_layout(s);
        QCOMPARE(a.etp, 1);
        QCOMPARE(a.members(a.expert_color, 0), (std::vector<int>{0, 1, 2, 3}));
        QCOMPARE(a.members(a.expert_color, 1), (std::vector<int>{4, 5, 6, 7})); // the second stage
        QCOMPARE(a.members(a.expert_tp_color, 0), std::vector<int>{}); // etp 1: no expert-TP groups

        s.tensor_shape = {4};
        s.pp = 1;
        s.ep = 2;
        const run::MeshLayout b = run::mesh_layout(s);
        QCOMPARE(b.etp, 4);
        QCOMPARE(b.members(b.expert_color, 0), (std::vector<int>{0, 4}));
        QCOMPARE(b.members(b.expert_color, 3), (std::vector<int>{3, 7}));
        QCOMPARE(b.members(b.expert_tp_color, 0), (std::vector<int>{0, 1, 2, 3}));
        QCOMPARE(b.members(b.expert_tp_color, 1), (std::vector<int>{4, 5, 6, 7}));
        QCOMPARE(b.members(b.expert_color, 4), std::vector<int>{}); // one stage: four EP groups

        s.ep = 1;
        const run::MeshLayout none = run::mesh_layout(s);
        QCOMPARE(none.members(none.expert_color, 0), std::vector<int>{});
    }
};

QTEST_GUILESS_MAIN(TestMeshLayout)
#include "tst_mesh_layout.moc"
