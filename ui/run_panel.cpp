#include "run_panel.h"

#include "core/error.h"
#include "run/events.h"
#include "spin_range.h"

#include "cuda/backend_info.h"
#include "cuda/engine_support.h"
#include "run/model_weights.h"

#include <QCheckBox>
#include <QComboBox>
#include <QCoreApplication>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QtConcurrent/QtConcurrentRun>
#include <QTemporaryDir>
#include <QVBoxLayout>

namespace shard::ui {

RunPanel::RunPanel(QWidget* parent)
    : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    auto* bar = new QHBoxLayout;
    m_backend = new QComboBox;
    m_backend->setObjectName(QStringLiteral("runBackend"));
    m_backend->addItem(tr("cpu (reference, fp32)"), QStringLiteral("cpu"));
    m_backend->addItem(tr("cuda (one GPU per rank)"), QStringLiteral("cuda"));
    m_backend->addItem(tr("cuda-emulated (all ranks on GPU 0)"), QStringLiteral("cuda-emulated"));
    // The cuda backends wait, disabled, for a check of the driver and libraries (see
    // checkCudaBackends); unavailable ones stay listed, disabled, with the reason.
    auto* items = qobject_cast<QStandardItemModel*>(m_backend->model());
    for (int row : {1, 2}) {
        items->item(row)->setEnabled(false);
        items->item(row)->setToolTip(tr("Looking for the NVIDIA driver and the CUDA libraries…"));
    }
    m_dtype = new QComboBox;
    for (const char* d : {"bf16", "fp16", "fp32"})
        m_dtype->addItem(QString::fromLatin1(d));
    m_dtype->setToolTip(tr("Element type of the cuda backends (the cpu backend computes in fp32)"));
    m_graphs = new QCheckBox(tr("CUDA graphs"));
    m_graphs->setObjectName(QStringLiteral("runGraphs"));
    m_graphs->setChecked(true);
    m_graphs->setToolTip(tr("cuda backends: decode steps replay one captured CUDA graph (--graphs)"));
    m_overlap = new QCheckBox(tr("overlap comm."));
    m_overlap->setObjectName(QStringLiteral("runOverlap"));
    m_overlap->setToolTip(
        tr("cuda backends: the tensor group's collectives run on streams of their own, the all-reduce "
           "after each row-parallel GEMM in chunks behind the next chunk (--overlap)"));
    m_steps = new QSpinBox;
    setRange(m_steps, limits::kDecodeSteps);
    m_steps->setValue(16);
    m_steps->setPrefix(tr("decode steps: "));
    m_start = new QPushButton(tr("Run"));
    m_start->setObjectName(QStringLiteral("runStart"));
    m_cancel = new QPushButton(tr("Cancel"));
    m_cancel->setObjectName(QStringLiteral("runCancel"));
    m_cancel->setEnabled(false);
    bar->addWidget(m_backend, 2);
    bar->addWidget(m_dtype);
    bar->addWidget(m_graphs);
    bar->addWidget(m_overlap);
    bar->addWidget(m_steps);
    bar->addWidget(m_start);
    bar->addWidget(m_cancel);
    layout->addLayout(bar);
    m_planLabel = new QLabel;
    m_planLabel->setWordWrap(true); // a long plan name wraps instead of widening the window
    layout->addWidget(m_planLabel);
    m_blocked = new QLabel;
    m_blocked->setObjectName(QStringLiteral("runBlocked"));
    m_blocked->setWordWrap(true);
    m_blocked->setStyleSheet(QStringLiteral("color: #b26b00;"));
    m_blocked->hide();
    layout->addWidget(m_blocked);
    m_progress = new QProgressBar;
    m_progress->setFormat(tr("step %v of %m"));
    m_progress->setRange(0, m_steps->value() + 1);
    m_progress->setValue(0);
    layout->addWidget(m_progress);
    m_log = new QPlainTextEdit;
    m_log->setObjectName(QStringLiteral("runLog"));
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(5000);
    m_log->setPlaceholderText(
        tr("The run's log appears here: the command, each step, the result next to the prediction."));
    layout->addWidget(m_log, 1);
    connect(m_backend, &QComboBox::currentIndexChanged, this, [this] {
        const bool cuda = backend() != QStringLiteral("cpu");
        for (QWidget* w : std::initializer_list<QWidget*>{m_dtype, m_graphs, m_overlap})
            w->setEnabled(cuda);
        updateAvailability();
    });
    connect(m_steps, &QSpinBox::valueChanged, this, [this](int steps) {
        if (!running())
            m_progress->setRange(0, steps + 1);
    });
    for (QWidget* w : std::initializer_list<QWidget*>{m_dtype, m_graphs, m_overlap})
        w->setEnabled(false);
    connect(m_start, &QPushButton::clicked, this, &RunPanel::start);
    connect(m_cancel, &QPushButton::clicked, this, &RunPanel::cancel);
    setPlan(std::nullopt);
}

RunPanel::~RunPanel()
{
    if (running()) { // the studio is closing: stop the run the way Cancel does
        m_process->terminate();
        m_process->waitForFinished(5000);
    }
}

void RunPanel::setPlan(const std::optional<Plan>& plan)
{
    m_plan = plan;
    m_planLabel->setText(plan ? tr("Plan: %1").arg(QString::fromStdString(plan->name))
                              : tr("Select a feasible candidate to run it."));
    updateAvailability();
}

void RunPanel::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    checkCudaBackends();
}

void RunPanel::checkCudaBackends()
{
    // Loading cuBLAS takes about 0.1 s and holds the dynamic loader's lock, which stalls the
    // UI thread's own plugin loading: the check runs once, in the background, when the
    // panel is first shown rather than while the window opens.
    if (m_checkStarted)
        return;
    m_checkStarted = true;
    auto* items = qobject_cast<QStandardItemModel*>(m_backend->model());
    auto* check = new QFutureWatcher<cuda::BackendInfo>(this);
    connect(check, &QFutureWatcher<cuda::BackendInfo>::finished, this, [this, check, items] {
        check->deleteLater();
        const cuda::BackendInfo info = check->result();
        for (int row : {1, 2}) {
            items->item(row)->setEnabled(info.usable());
            items->item(row)->setToolTip(info.usable()
                                             ? QString::fromStdString(info.status)
                                             : tr("Unavailable here: %1").arg(QString::fromStdString(info.reason)));
            if (!info.usable())
                items->item(row)->setText(items->item(row)->text() + tr(" — unavailable"));
        }
        m_backendsChecked = true;
        emit backendsChecked(info.usable());
    });
    check->setFuture(QtConcurrent::run(&cuda::backend_info));
}

QString RunPanel::blockedReason() const
{
    return m_blocked->text();
}

void RunPanel::updateAvailability()
{
    QString why, advice;
    if (m_plan && backend() == QStringLiteral("cpu")) {
        why = QString::fromStdString(run::reference_unsupported_reason(m_plan->model));
        advice = tr("Pick a smaller model (tiny-dense, tiny-moe, GPT-2) or a cuda backend.");
    } else if (m_plan) {
        why = QString::fromStdString(cuda::gpu_unsupported_reason(m_plan->model, m_plan->strategy));
        advice = tr("Pick another candidate or the cpu backend.");
    }
    m_blocked->setText(why.isEmpty() ? QString()
                                     : tr("The %1 backend cannot run this plan: %2. %3").arg(backend(), why, advice));
    m_blocked->setVisible(!why.isEmpty());
    m_start->setEnabled(m_plan.has_value() && !running() && why.isEmpty());
}

QString RunPanel::backend() const
{
    return m_backend->currentData().toString();
}

bool RunPanel::setBackend(const QString& name)
{
    const int index = m_backend->findData(name);
    auto* items = qobject_cast<QStandardItemModel*>(m_backend->model());
    if (index < 0 || !items->item(index)->isEnabled())
        return false;
    m_backend->setCurrentIndex(index);
    return true;
}

void RunPanel::setSteps(int steps)
{
    m_steps->setValue(steps);
}

bool RunPanel::running() const
{
    return m_process && m_process->state() != QProcess::NotRunning;
}

QString RunPanel::log() const
{
    return m_log->toPlainText();
}

bool RunPanel::start()
{
    if (!m_plan || running() || !m_blocked->text().isEmpty())
        return false;
    delete m_dir;
    m_dir = new QTemporaryDir;
    const QString file = m_dir->filePath(QStringLiteral("run.shardplan.json"));
    try {
        save_plan(*m_plan, file.toStdString());
    } catch (const std::exception& e) {
        append(tr("Cannot write the plan: %1").arg(QString::fromUtf8(e.what())), QStringLiteral("#c0392b"));
        return false;
    }
    m_log->clear();
    m_pending.clear();
    m_lastStatus.clear();
    m_runId = 0;
    m_database.clear();
    m_progress->setRange(0, m_steps->value() + 1);
    m_progress->setValue(0);
    delete m_process;
    m_process = new QProcess(this);
    m_process->setProcessChannelMode(QProcess::SeparateChannels);
    connect(m_process, &QProcess::readyReadStandardOutput, this, &RunPanel::readEvents);
    connect(m_process, &QProcess::finished, this, &RunPanel::finished);
    QStringList args{QStringLiteral("--json"),
                     QStringLiteral("run"),
                     file,
                     QStringLiteral("--backend"),
                     backend(),
                     QStringLiteral("--steps"),
                     QString::number(m_steps->value())};
    const auto on_off = [](const QCheckBox* box) {
        return box->isChecked() ? QStringLiteral("on") : QStringLiteral("off");
    };
    if (backend() != QStringLiteral("cpu"))
        args << QStringLiteral("--dtype") << m_dtype->currentText() << QStringLiteral("--graphs") << on_off(m_graphs)
             << QStringLiteral("--overlap") << on_off(m_overlap);
    const QString cli = QCoreApplication::applicationDirPath() + QStringLiteral("/shardstudio-cli");
    append(tr("$ shardstudio-cli %1").arg(args.join(QLatin1Char(' '))), QStringLiteral("gray"));
    m_process->start(cli, args);
    if (!m_process->waitForStarted(5000)) {
        append(tr("Cannot start %1: %2").arg(cli, m_process->errorString()), QStringLiteral("#c0392b"));
        return false;
    }
    m_start->setEnabled(false);
    m_cancel->setEnabled(true);
    emit runStarted();
    return true;
}

void RunPanel::cancel()
{
    if (running()) {
        append(tr("Cancelling…"), QStringLiteral("gray"));
        m_process->terminate(); // SIGTERM: the CLI stores the run as cancelled
    }
}

void RunPanel::readEvents()
{
    m_pending += m_process->readAllStandardOutput();
    for (qsizetype eol; (eol = m_pending.indexOf('\n')) >= 0;) {
        const QByteArray line = m_pending.left(eol);
        m_pending.remove(0, eol + 1);
        run::Event event;
        try {
            event = run::parse_event_line(std::string_view(line.constData(), std::size_t(line.size())));
        } catch (const Error&) {
            continue; // not an event
        }
        auto text = [](const std::string& s) { return QString::fromStdString(s); };
        if (const auto* start = std::get_if<run::StartEvent>(&event)) {
            append(tr("Started %1 on %2: %3 ranks").arg(text(start->plan), text(start->backend)).arg(start->ranks));
        } else if (const auto* stored = std::get_if<run::StoredEvent>(&event)) {
            m_runId = stored->run;
            m_database = text(stored->database);
        } else if (const auto* progress = std::get_if<run::ProgressEvent>(&event)) {
            m_progress->setMaximum(progress->total);
            m_progress->setValue(progress->step);
        } else if (const auto* result = std::get_if<run::ResultEvent>(&event)) {
            m_lastStatus = QStringLiteral("completed");
            append(tr("Done. TTFT %1 ms measured (predicted %2 ms on %3), TPOT %4 ms measured (predicted %5 ms); "
                      "max relative error %6, tokens %7.")
                       .arg(result->ttft_ms.value_or(0), 0, 'f', 3)
                       .arg(result->predicted_ttft_ms.value_or(0), 0, 'f', 3)
                       .arg(text(result->predicted_gpu))
                       .arg(result->tpot_ms.value_or(0), 0, 'f', 3)
                       .arg(result->predicted_tpot_ms.value_or(0), 0, 'f', 3)
                       .arg(result->non_finite ? tr("undefined (the run produced NaN or infinite values)")
                                               : QString::number(result->max_rel_error.value_or(0), 'e', 2))
                       .arg(result->tokens_match.value_or(false) ? tr("identical") : tr("different")),
                   QStringLiteral("#2e7d32"));
        } else if (const auto* error = std::get_if<run::ErrorEvent>(&event)) {
            m_lastStatus = text(error->status);
            // A cancel the user asked for is not an error.
            if (m_lastStatus == QStringLiteral("cancelled"))
                append(tr("Cancelled, as asked: the steps measured so far are kept with the run."),
                       QStringLiteral("gray"));
            else
                append(tr("Error: %1").arg(text(error->message)), QStringLiteral("#c0392b"));
        }
    }
}

void RunPanel::finished(int exitCode, QProcess::ExitStatus status)
{
    readEvents();
    updateAvailability();
    m_cancel->setEnabled(false);
    QString outcome = m_lastStatus;
    if (status == QProcess::CrashExit && outcome.isEmpty())
        outcome = QStringLiteral("crashed");
    if (outcome.isEmpty())
        outcome = exitCode == 0 ? QStringLiteral("completed") : QStringLiteral("failed");
    append(tr("Run %1 (exit code %2). It is in the history.").arg(outcome).arg(exitCode), QStringLiteral("gray"));
    emit runFinished(outcome);
}

void RunPanel::append(const QString& line, const QString& color)
{
    if (color.isEmpty())
        m_log->appendPlainText(line);
    else
        m_log->appendHtml(QStringLiteral("<span style='color:%1'>%2</span>").arg(color, line.toHtmlEscaped()));
}

} // namespace shard::ui
