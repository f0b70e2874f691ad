// The host model of CUDA's streams (engine/cuda/host_model/host_streams.h), which
// tst_engine_on_host relies on to show a missing wait between the engine's streams: work
// deferred until needed, waits that order streams, a waited-on stream that runs ahead,
// graph capture and replay, and the calls a capture refuses.
#include "host_elements.h"
#include "host_streams.h"

#include "cuda/kernels.h"

#include <QtTest>

using namespace shard;
using namespace shard::cuda;

namespace {

// A stream, an event and a device buffer of n ints, released at the end of a test.
struct Stream {
    cudaStream_t s = nullptr;
    Stream() { cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking); }
    ~Stream() { cudaStreamDestroy(s); }
};
struct Event {
    cudaEvent_t e = nullptr;
    Event() { cudaEventCreateWithFlags(&e, cudaEventDisableTiming); }
    ~Event() { cudaEventDestroy(e); }
};
template<class T> struct Cell {
    T* p = nullptr;
    explicit Cell(T value)
    {
        cudaMalloc(reinterpret_cast<void**>(&p), sizeof(T));
        *p = value;
    }
    ~Cell() { cudaFree(p); }
};
using Ints = Cell<int>;

// A schedule for the length of a test.
struct Scheduled {
    explicit Scheduled(host::Schedule schedule) { host::set_schedule(schedule); }
    ~Scheduled() { host::set_schedule(host::Schedule::AtOnce); }
};

} // namespace

class TestHostStreams : public QObject {
    Q_OBJECT

private slots:
    void workRunsAtOnceOrWhenNeeded_data()
    {
        QTest::addColumn<bool>("deferred");
        QTest::newRow("at once") << false;
        QTest::newRow("deferred") << true;
    }

    void workRunsAtOnceOrWhenNeeded()
    {
        QFETCH(bool, deferred);
        const Scheduled mode(deferred ? host::Schedule::Lazy : host::Schedule::AtOnce);
        Stream a;
        Ints x(0);
        kernels::set_int(x.p, 7, a.s);
        QCOMPARE(*x.p, deferred ? 0 : 7);
        QCOMPARE(cudaStreamSynchronize(a.s), cudaSuccess);
        QCOMPARE(*x.p, 7);
    }

    // B copies what A writes: with the wait it reads A's value; without it, deferred, it
    // reads the old one (the race a GPU may or may not show).
    void waitOrdersStreams_data()
    {
        QTest::addColumn<bool>("wait");
        QTest::addColumn<int>("read");
        QTest::newRow("with the wait") << true << 5;
        QTest::newRow("missing wait") << false << 1;
    }

    void waitOrdersStreams()
    {
        QFETCH(bool, wait);
        QFETCH(int, read);
        const Scheduled mode(host::Schedule::Lazy);
        Stream a, b;
        Event written;
        Ints x(1), y(0);
        kernels::set_int(x.p, 5, a.s);
        cudaEventRecord(written.e, a.s);
        if (wait)
            cudaStreamWaitEvent(b.s, written.e, 0);
        cudaMemcpyAsync(y.p, x.p, sizeof(int), cudaMemcpyDeviceToDevice, b.s);
        cudaStreamSynchronize(b.s);
        QCOMPARE(*y.p, read);
        cudaStreamSynchronize(a.s);
        QCOMPARE(*x.p, 5);
    }

    // A reads x once B's first event has passed; B then overwrites x. Without B waiting for
    // A's read, B runs ahead when A waits on it and A reads the new value.
    void waitedStreamRunsAhead_data()
    {
        QTest::addColumn<bool>("wait");
        QTest::addColumn<int>("read");
        QTest::newRow("with the wait") << true << 1;
        QTest::newRow("missing wait") << false << 9;
    }

    void waitedStreamRunsAhead()
    {
        QFETCH(bool, wait);
        QFETCH(int, read);
        const Scheduled mode(host::Schedule::Lazy);
        Stream a, b;
        Event started, read_done;
        Ints x(1), y(0);
        cudaEventRecord(started.e, b.s);
        cudaStreamWaitEvent(a.s, started.e, 0);
        cudaMemcpyAsync(y.p, x.p, sizeof(int), cudaMemcpyDeviceToDevice, a.s);
        cudaEventRecord(read_done.e, a.s);
        if (wait)
            cudaStreamWaitEvent(b.s, read_done.e, 0);
        kernels::set_int(x.p, 9, b.s);
        cudaStreamSynchronize(a.s);
        QCOMPARE(*y.p, read);
        cudaDeviceSynchronize();
        QCOMPARE(*x.p, 9);
    }

    // A collective's stream copies what the compute stream writes, without waiting for it,
    // and the compute stream is synchronised first (as the engine joins its streams).
    // Every stream lazy hides the missing wait; the compute stream lagging shows it.
    void computeLagsShowsAMissingWaitOfTheOtherSide_data()
    {
        QTest::addColumn<int>("schedule");
        QTest::addColumn<int>("read");
        QTest::newRow("lazy") << int(host::Schedule::Lazy) << 5;
        QTest::newRow("compute lags") << int(host::Schedule::ComputeLags) << 1;
    }

    void computeLagsShowsAMissingWaitOfTheOtherSide()
    {
        QFETCH(int, schedule);
        QFETCH(int, read);
        const Scheduled mode{host::Schedule(schedule)};
        Stream compute, comm;
        host::mark_compute_stream(compute.s);
        Ints x(1), y(0);
        kernels::set_int(x.p, 5, compute.s);
        cudaMemcpyAsync(y.p, x.p, sizeof(int), cudaMemcpyDeviceToDevice, comm.s);
        cudaStreamSynchronize(compute.s);
        cudaStreamSynchronize(comm.s);
        QCOMPARE(*y.p, read);
    }

    // A graph replays its work with the arguments it was captured with, reading device
    // memory as it is at the replay; work on a stream that joins the capture is captured.
    void graphReplaysCapturedWork()
    {
        const Scheduled mode(host::Schedule::Lazy);
        Stream a, b;
        Event fork, join;
        Cell<float> x(1), y(0), z(0);
        QCOMPARE(cudaStreamBeginCapture(a.s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
        QVERIFY(host::capturing());
        cudaMemcpyAsync(y.p, x.p, sizeof(int), cudaMemcpyDeviceToDevice, a.s);
        cudaEventRecord(fork.e, a.s);
        cudaStreamWaitEvent(b.s, fork.e, 0);
        kernels::add(GpuDType::F32, z.p, y.p, 1, b.s);
        cudaEventRecord(join.e, b.s);
        cudaStreamWaitEvent(a.s, join.e, 0);
        cudaGraph_t graph = nullptr;
        QCOMPARE(cudaStreamEndCapture(a.s, &graph), cudaSuccess);
        QVERIFY(!host::capturing());
        QCOMPARE(*y.p, 0.0f); // captured, not run
        cudaGraphExec_t exec = nullptr;
        QCOMPARE(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
        cudaGraphDestroy(graph);
        for (const float value : {3.0f, 4.0f}) {
            *x.p = value;
            *z.p = 0;
            QCOMPARE(cudaGraphLaunch(exec, a.s), cudaSuccess);
            cudaStreamSynchronize(a.s);
            QCOMPARE(*y.p, value);
            QCOMPARE(*z.p, value);
        }
        cudaGraphExecDestroy(exec);
    }

    // What a GPU refuses while a stream captures: allocation, synchronous copies and
    // synchronisations.
    void unsafeCallsFailDuringCapture()
    {
        Stream a;
        QCOMPARE(cudaStreamBeginCapture(a.s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
        void* p = nullptr;
        QCOMPARE(cudaMalloc(&p, 16), cudaErrorStreamCaptureUnsupported);
        int v = 0, w = 0;
        QCOMPARE(cudaMemcpy(&v, &w, sizeof(int), cudaMemcpyHostToHost), cudaErrorStreamCaptureUnsupported);
        QCOMPARE(cudaStreamSynchronize(a.s), cudaErrorStreamCaptureUnsupported);
        QCOMPARE(cudaDeviceSynchronize(), cudaErrorStreamCaptureUnsupported);
        cudaGraph_t graph = nullptr;
        QCOMPARE(cudaStreamEndCapture(a.s, &graph), cudaSuccess);
        cudaGraphDestroy(graph);
        QCOMPARE(cudaMalloc(&p, 16), cudaSuccess);
        cudaFree(p);
    }

    // Values round to the buffer's type as a GPU rounds them: to nearest, ties to even.
    void elementsRoundToTheirType_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<float>("value");
        QTest::addColumn<float>("stored");
        QTest::newRow("fp32 exact") << int(GpuDType::F32) << 1.0f / 3.0f << 1.0f / 3.0f;
        QTest::newRow("bf16 1 + 2^-8 ties to 1") << int(GpuDType::BF16) << 1.00390625f << 1.0f;
        QTest::newRow("bf16 1 + 3 2^-8 ties to 1 + 2^-6") << int(GpuDType::BF16) << 1.01171875f << 1.015625f;
        QTest::newRow("bf16 -3.14159") << int(GpuDType::BF16) << -3.14159f << -3.140625f;
        QTest::newRow("fp16 1 + 2^-11 ties to 1") << int(GpuDType::F16) << 1.00048828125f << 1.0f;
        QTest::newRow("fp16 65504 stays") << int(GpuDType::F16) << 65504.0f << 65504.0f;
        QTest::newRow("fp16 65520 overflows") << int(GpuDType::F16) << 65520.0f << INFINITY;
        QTest::newRow("fp16 subnormal 2^-24") << int(GpuDType::F16) << 5.9604645e-8f << 5.9604645e-8f;
        QTest::newRow("fp16 2^-26 flushes to 0") << int(GpuDType::F16) << 1.4901161e-8f << 0.0f;
        QTest::newRow("fp16 -0.1") << int(GpuDType::F16) << -0.1f << -0.0999755859375f;
    }

    void elementsRoundToTheirType()
    {
        QFETCH(int, type);
        QFETCH(float, value);
        QFETCH(float, stored);
        std::uint32_t buffer = 0;
        host::store(GpuDType(type), &buffer, 0, value);
        QCOMPARE(host::load(GpuDType(type), &buffer, 0), stored);
    }
};

QTEST_GUILESS_MAIN(TestHostStreams)
#include "tst_host_streams.moc"
