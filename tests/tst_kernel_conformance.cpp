// The engine's kernels (engine/cuda/*.cu, run on the host model's fibers) against the host
// loops that stand in for them in the quick engine tests (engine/cuda/host_model): every
// launcher on the same seeded inputs, in each buffer type, equal to within one rounding of
// that type (indices and counts exactly). The loops call the CPU reference where it has the
// operation, so this also holds the kernels to the reference.
#include "kernel_conformance_cases.h"

#include <QtTest>

#include <algorithm>
#include <cmath>

using namespace shard;
using cuda::GpuDType;

namespace {

// One rounding of the buffer type at magnitude 1: what two correct fp32 computations
// summed in different orders may differ by once stored.
double tolerance(GpuDType type)
{
    switch (type) {
    case GpuDType::F32:
        return 2e-5;
    case GpuDType::F16:
        return std::ldexp(1.0, -10);
    case GpuDType::BF16:
        return std::ldexp(1.0, -7);
    }
    return 0;
}

} // namespace

class KernelConformance : public QObject {
    Q_OBJECT

private slots:
    void kernelsEqualTheHostLoops_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<unsigned>("seed");
        QTest::newRow("fp32") << int(GpuDType::F32) << 20261204u;
        QTest::newRow("fp16") << int(GpuDType::F16) << 20261205u;
        QTest::newRow("bf16") << int(GpuDType::BF16) << 20261206u;
    }
    void kernelsEqualTheHostLoops()
    {
        QFETCH(int, type);
        QFETCH(unsigned, seed);
        const auto dtype = GpuDType(type);
        const cuda::conformance::Outputs kernels = cuda::kernels::conformance_outputs(dtype, seed);
        const cuda::conformance::Outputs loops = cuda::host_loops::conformance_outputs(dtype, seed);
        QCOMPARE(kernels.size(), loops.size());
        QCOMPARE(kernels.size(), std::size_t(39)); // every launcher; norms and activations in each variant
        const double tol = tolerance(dtype);
        for (std::size_t i = 0; i < kernels.size(); ++i) {
            const auto& k = kernels[i];
            const auto& l = loops[i];
            QCOMPARE(k.kernel, l.kernel);
            QCOMPARE(k.values.size(), l.values.size());
            const QByteArray name = QByteArray::fromStdString(k.kernel);
            // Each case writes something: equal zeros would prove nothing.
            QVERIFY2(std::any_of(l.values.begin(), l.values.end(), [](float v) { return v != 0.0f; }), name);
            for (std::size_t j = 0; j < k.values.size(); ++j) {
                const double a = k.values[j];
                const double b = l.values[j];
                const double allowed = k.exact ? 0.0 : tol * std::max(1.0, std::abs(b));
                if (!(std::abs(a - b) <= allowed))
                    QFAIL(qPrintable(QStringLiteral("%1[%2]: kernel %3, host loop %4 (allowed %5)")
                                         .arg(QString::fromStdString(k.kernel))
                                         .arg(j)
                                         .arg(a, 0, 'g', 9)
                                         .arg(b, 0, 'g', 9)
                                         .arg(allowed)));
            }
        }
    }
};

QTEST_GUILESS_MAIN(KernelConformance)
#include "tst_kernel_conformance.moc"
