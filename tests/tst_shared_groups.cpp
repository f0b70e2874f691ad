// The groups the replicas of a stage share when their experts span them
// (RendezvousGroup): one call with every member's buffers, failures reaching every caller.
// Plain host code, so it runs everywhere (linked from the host model of the engine).
#include "cuda/rendezvous_collectives.h"

#include "test_support.h"

#include <QtTest>

#include <chrono>
#include <thread>

using namespace shard;
using shard::test::errorOf;

namespace {

// Records the calls a shared group forwards (no GPU involved).
class RecordingCollectives final : public cuda::DeviceCollectives {
public:
    explicit RecordingCollectives(int members)
        : m_members(members)
    { }
    int size() const override { return m_members; }
    bool emulated() const override { return true; }
    cudaStream_t stream(int) const override { return nullptr; }
    void set_streams(const std::vector<cudaStream_t>&) override { }
    void all_reduce(const std::vector<void*>& bufs, std::int64_t, cuda::GpuDType) override
    {
        record("all_reduce", bufs, {});
    }
    void all_gather(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t, cuda::GpuDType) override
    {
        record("all_gather", in, out);
    }
    void reduce_scatter(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t,
                        cuda::GpuDType) override
    {
        record("reduce_scatter", in, out);
    }
    void all_to_all(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t, cuda::GpuDType) override
    {
        if (fail)
            throw Error("the transfer failed");
        record("all_to_all", in, out);
    }
    void all_to_allv(const std::vector<void*>& in, const Counts& send_counts, const Counts&,
                     const std::vector<void*>& out, const Counts&, const Counts&, cuda::GpuDType) override
    {
        record("all_to_allv", in, out);
        counts = send_counts;
    }
    void broadcast(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t, cuda::GpuDType,
                   int) override
    {
        record("broadcast", in, out);
    }
    void send_recv(int, const void*, int, void*, std::int64_t, cuda::GpuDType) override { }
    void synchronize(double) override { }

    struct Call {
        std::string op;
        std::vector<void*> in, out;
    };
    std::vector<Call> calls;
    Counts counts;
    bool fail = false;

private:
    void record(const char* op, const std::vector<void*>& in, const std::vector<void*>& out)
    {
        calls.push_back({op, in, out});
    }
    int m_members;
};

void* fakePointer(std::uintptr_t v)
{
    return reinterpret_cast<void*>(v);
}

} // namespace

class TestSharedGroups : public QObject {
    Q_OBJECT

private slots:
    // Expert groups shared by replicas that run in threads of their own: one call with
    // every member's buffers in member order, whichever replica arrives last.
    void sharedGroupCallsOnceWithEveryMember()
    {
        RecordingCollectives inner(4);
        cuda::RendezvousGroup group(inner, {2, 2});
        for (int round = 0; round < 3; ++round) {
            std::thread second([&] {
                group.view(1)->all_to_allv({fakePointer(3), fakePointer(4)}, {{3}, {4}}, {{0}, {0}},
                                           {fakePointer(13), fakePointer(14)}, {{0}, {0}}, {{0}, {0}},
                                           cuda::GpuDType::BF16);
            });
            if (round == 1) // either order of arrival
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            group.view(0)->all_to_allv({fakePointer(1), fakePointer(2)}, {{1}, {2}}, {{0}, {0}},
                                       {fakePointer(11), fakePointer(12)}, {{0}, {0}}, {{0}, {0}},
                                       cuda::GpuDType::BF16);
            second.join();
            QCOMPARE(int(inner.calls.size()), round + 1);
            QCOMPARE(inner.calls.back().op, std::string("all_to_allv"));
            QCOMPARE(inner.calls.back().in,
                     (std::vector<void*>{fakePointer(1), fakePointer(2), fakePointer(3), fakePointer(4)}));
            QCOMPARE(inner.calls.back().out,
                     (std::vector<void*>{fakePointer(11), fakePointer(12), fakePointer(13), fakePointer(14)}));
            QCOMPARE(inner.counts, (cuda::DeviceCollectives::Counts{{1}, {2}, {3}, {4}}));
        }
        QCOMPARE(errorOf([&] {
                     cuda::RendezvousGroup bad(inner, {2, 1});
                 }),
                 QStringLiteral("a shared group of 4 members was split into 3"));
        QCOMPARE(errorOf([&] { group.view(0)->all_reduce({fakePointer(1)}, 8, cuda::GpuDType::F32); }),
                 QStringLiteral("replica 0 gave 1 buffers to all_reduce for its 2 members"));
    }

    void sharedGroupFailuresReachEveryReplica()
    {
        // The wrapped call fails: every replica gets its error.
        RecordingCollectives inner(2);
        inner.fail = true;
        cuda::RendezvousGroup group(inner, {1, 1});
        QString waiting;
        std::thread first([&] {
            waiting =
                errorOf([&] { group.view(0)->all_to_all({fakePointer(1)}, {fakePointer(2)}, 4, cuda::GpuDType::F32); });
        });
        const QString last =
            errorOf([&] { group.view(1)->all_to_all({fakePointer(3)}, {fakePointer(4)}, 4, cuda::GpuDType::F32); });
        first.join();
        QCOMPARE(last, QStringLiteral("the transfer failed"));
        QCOMPARE(waiting, QStringLiteral("the transfer failed"));
        // A replica that fails elsewhere aborts the group: the one waiting in it is woken.
        RecordingCollectives healthy(2);
        cuda::RendezvousGroup shared(healthy, {1, 1});
        QString woken;
        std::thread stuck(
            [&] { woken = errorOf([&] { shared.view(0)->all_reduce({fakePointer(1)}, 4, cuda::GpuDType::F32); }); });
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        shared.abort("replica 1 of the shared expert groups failed");
        stuck.join();
        QCOMPARE(woken, QStringLiteral("replica 1 of the shared expert groups failed"));
        QVERIFY(healthy.calls.empty());
        // Replicas that disagree on the call are told so.
        RecordingCollectives other(2);
        cuda::RendezvousGroup mixed(other, {1, 1});
        QString early;
        std::thread gather([&] {
            early =
                errorOf([&] { mixed.view(0)->all_gather({fakePointer(1)}, {fakePointer(2)}, 4, cuda::GpuDType::F32); });
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        QCOMPARE(errorOf([&] { mixed.view(1)->all_reduce({fakePointer(3)}, 4, cuda::GpuDType::F32); }),
                 QStringLiteral("the replicas of a shared group disagree: all_gather against all_reduce"));
        mixed.abort("replica 1 failed");
        gather.join();
        QCOMPARE(early, QStringLiteral("replica 1 failed"));
    }
};

QTEST_GUILESS_MAIN(TestSharedGroups)
#include "tst_shared_groups.moc"
