#include "about_dialog.h"

#include "cuda/backend_info.h"
#include "shard/version.h"

#include <QDialogButtonBox>
#include <QLabel>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace shard::ui {

namespace {

QString aboutHtml()
{
    const auto cuda = cuda::backend_info();
    return QObject::tr(
               "<h3>ShardStudio %1</h3>"
               "<p>Plan tensor-parallel LLM inference over GPUs: candidate 1D / 2D / 3D / hybrid shard layouts "
               "with predicted memory, communication and latency, runs on the bundled CPU reference and CUDA "
               "engine, and their measurements kept for comparison.</p>"
               "<p>CUDA backend of this build: %2. Qt %3.</p>"
               "<h4>Where the numbers come from</h4>"
               "<ul><li><b>Predicted</b>: the cost model: each op's time from the GPU's datasheet FLOP rate and "
               "memory bandwidth with the model's efficiency factors (a roofline), each collective's from the "
               "topology's bus bandwidth and latency.</li>"
               "<li><b>Measured</b>: runs of this machine's CPU reference or GPUs, stored in the run "
               "database.</li>"
               "<li>GPU figures: vendor datasheets. Reference measurements: our cuBLAS sweep on an H100 SXM "
               "(resources/calibration, README there).</li></ul>"
               "<h4>Licenses</h4>"
               "<ul><li>Qt 6: LGPL v3</li><li>QCustomPlot: GPL v3</li><li>nlohmann/json: MIT</li>"
               "<li>CLI11: BSD 3-clause</li><li>SQLite: public domain</li><li>OpenBLAS: BSD 3-clause</li>"
               "<li>Boost.Context: Boost Software License 1.0</li>"
               "<li>CUDA, cuBLAS, NCCL (when built with them): NVIDIA's licenses</li></ul>")
        .arg(QString::fromLatin1(kVersion), QString::fromStdString(cuda.status), QString::fromLatin1(qVersion()));
}

} // namespace

AboutDialog::AboutDialog(QWidget* parent)
    : QDialog(parent)
{
    setObjectName(QStringLiteral("aboutDialog"));
    setWindowTitle(tr("About ShardStudio"));
    auto* layout = new QVBoxLayout(this);
    auto* browser = new QTextBrowser;
    browser->setObjectName(QStringLiteral("aboutText"));
    browser->setHtml(aboutHtml());
    browser->setOpenExternalLinks(true);
    layout->addWidget(browser);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
    resize(560, 520);
}

QString AboutDialog::text() const
{
    return findChild<QTextBrowser*>(QStringLiteral("aboutText"))->toPlainText();
}

} // namespace shard::ui
