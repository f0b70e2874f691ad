#include "serving_view.h"

#include "serving_charts.h"
#include "serving_form.h"

#include "serving/launch_export.h"
#include "serving/trace_export.h"

#include <QComboBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>

namespace shard::ui {

namespace {

QString ms_text(double ms)
{
    return QString::number(ms, 'f', ms < 10 ? 2 : 1);
}

} // namespace

ServingView::ServingView(QWidget* parent)
    : QWidget(parent)
{
    m_controller = new ServingController(this);
    auto* layout = new QHBoxLayout(this);
    m_form = new ServingForm;
    m_search = new QPushButton(tr("Search deployments"));
    m_search->setObjectName(QStringLiteral("servingSearch"));
    m_cancel = new QPushButton(tr("Cancel"));
    m_cancel->setObjectName(QStringLiteral("servingCancel"));
    m_cancel->setEnabled(false);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_search);
    buttons->addWidget(m_cancel);
    m_progress = new QProgressBar;
    m_progress->setVisible(false);
    m_status = new QLabel(tr("Every figure here is simulated: requests replayed through a continuous-batching "
                             "replica on step times the cost model predicts."));
    m_status->setObjectName(QStringLiteral("servingStatus"));
    m_status->setWordWrap(true);
    auto* left = new QVBoxLayout;
    left->addWidget(m_form);
    left->addLayout(buttons);
    left->addWidget(m_progress);
    left->addWidget(m_status);
    left->addStretch(1);
    auto* leftWidget = new QWidget;
    leftWidget->setLayout(left);
    leftWidget->setMaximumWidth(320);

    m_rows = new QStandardItemModel(this);
    m_rows->setHorizontalHeaderLabels({tr("deployment"), tr("GPU kind"), tr("GPUs"), tr("max seqs"), tr("SLO"),
                                       tr("goodput\nreq/s"), tr("TTFT ms\nat SLO pct"), tr("TPOT ms\nat SLO pct"),
                                       tr("tok/s\nper GPU"), tr("tok/s\nper user"), tr("$ per M\ntokens")});
    m_table = new QTableView;
    m_table->setObjectName(QStringLiteral("servingTable"));
    m_table->setModel(m_rows);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->verticalHeader()->hide();
    m_table->setToolTip(tr("Simulated on predicted step times; SLO percentiles at the percentile set on the left"));
    m_charts = new ServingCharts;
    m_engine = new QComboBox;
    for (const char* e : {"vllm", "sglang", "trtllm"})
        m_engine->addItem(QString::fromLatin1(e));
    m_launch = new QPlainTextEdit;
    m_launch->setObjectName(QStringLiteral("servingLaunch"));
    m_launch->setReadOnly(true);
    m_launch->setLineWrapMode(QPlainTextEdit::WidgetWidth);
    auto* launchBox = new QWidget;
    auto* launchLayout = new QVBoxLayout(launchBox);
    launchLayout->setContentsMargins(0, 0, 0, 0);
    m_saveLaunch = new QPushButton(tr("Save commands..."));
    m_saveLaunch->setToolTip(tr("A script with every engine's commands, and the simulated requests for AIPerf to "
                                "replay at their arrival times"));
    m_saveLaunch->setEnabled(false);
    auto* launchRow = new QHBoxLayout;
    launchRow->addWidget(m_engine, 1);
    launchRow->addWidget(m_saveLaunch);
    launchLayout->addLayout(launchRow);
    launchLayout->addWidget(m_launch);
    auto* bottom = new QSplitter(Qt::Horizontal);
    bottom->addWidget(m_charts);
    bottom->addWidget(launchBox);
    bottom->setStretchFactor(0, 3);
    bottom->setStretchFactor(1, 2);
    auto* right = new QSplitter(Qt::Vertical);
    right->addWidget(m_table);
    right->addWidget(bottom);
    layout->addWidget(leftWidget);
    layout->addWidget(right, 1);

    connect(m_search, &QPushButton::clicked, this, &ServingView::startSearch);
    connect(m_cancel, &QPushButton::clicked, this, &ServingView::cancelSearch);
    connect(m_form, &ServingForm::traceRefused, m_status, &QLabel::setText);
    connect(m_saveLaunch, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Save the launch commands"),
                                                          QStringLiteral("deployment.sh"), tr("Shell script (*.sh)"));
        if (!path.isEmpty())
            saveLaunch(path);
    });
    connect(m_controller, &ServingController::progress, this, [this](int done, int total, const QString& current) {
        m_progress->setRange(0, std::max(1, total));
        m_progress->setValue(done);
        m_status->setText(tr("Simulating %1 (%2 of at most %3)").arg(current).arg(done).arg(total));
    });
    connect(m_controller, &ServingController::searched, this, &ServingView::showResult);
    connect(m_controller, &ServingController::failed, this, [this](const QString& message) {
        m_search->setEnabled(true);
        m_cancel->setEnabled(false);
        m_progress->setVisible(false);
        m_status->setText(message);
        emit searchFinished(0);
    });
    connect(m_controller, &ServingController::detailed, this, &ServingView::showDetail);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this](const QModelIndex& index) {
        if (index.isValid() && index.row() < int(m_result.options.size()))
            m_controller->detail(m_result.options[std::size_t(index.row())]);
    });
    connect(m_charts, &ServingCharts::deploymentClicked, this, &ServingView::selectDeployment);
    connect(m_engine, &QComboBox::currentIndexChanged, this, [this] {
        const QModelIndex current = m_table->currentIndex();
        if (current.isValid())
            m_controller->detail(m_result.options[std::size_t(current.row())]);
    });
}

void ServingView::setDeploymentBase(const ModelSpec& model, const Topology& topology, DType dtype, DType kv_dtype,
                                    TableSource tables)
{
    m_model = model;
    m_topology = topology;
    m_dtype = dtype;
    m_kvDtype = kv_dtype;
    m_tables = tables;
}

ServingInputs ServingView::inputs() const
{
    ServingInputs in;
    in.model = m_model;
    in.topology = m_topology;
    in.dtype = m_dtype;
    in.kv_dtype = m_kvDtype;
    in.tables = m_tables;
    m_form->fill(in);
    return in;
}

void ServingView::startSearch()
{
    ServingInputs in;
    try {
        in = inputs();
        in.traffic.validate();
        in.slo.validate();
    } catch (const std::exception& e) {
        m_status->setText(QString::fromUtf8(e.what()));
        emit searchFinished(0);
        return;
    }
    m_search->setEnabled(false);
    m_cancel->setEnabled(true);
    m_progress->setVisible(true);
    m_progress->setRange(0, 0);
    m_status->setText(tr("Searching deployments of %1 on %2...")
                          .arg(QString::fromStdString(in.model.name), QString::fromStdString(in.topology.name)));
    m_controller->search(in);
}

void ServingView::cancelSearch()
{
    m_controller->cancel();
}

void ServingView::showResult(const serving::SearchResult& result, double ms)
{
    m_result = result;
    m_shown.reset();
    m_saveLaunch->setEnabled(false);
    m_launch->clear();
    m_search->setEnabled(true);
    m_cancel->setEnabled(false);
    m_progress->setVisible(false);
    m_rows->removeRows(0, m_rows->rowCount());
    const bool kinds = m_controller->inputs().machines().size() > 1;
    m_table->setColumnHidden(1, !kinds);
    for (const auto& o : result.options) {
        const auto& s = o.summary;
        QList<QStandardItem*> row;
        auto cell = [&](const QString& text, bool number = true) {
            auto* item = new QStandardItem(text);
            if (number)
                item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            row.append(item);
        };
        cell(QString::fromStdString(o.label()), false);
        cell(QString::fromStdString(o.gpu_text()), false);
        cell(QString::number(o.gpus));
        cell(QString::number(o.limits.max_seqs));
        cell(s.meets_slo ? tr("met") : tr("missed"), false);
        row.back()->setForeground(s.meets_slo ? QColor(0x2e, 0x7d, 0x32) : QColor(0xc0, 0x39, 0x2b));
        if (!s.failing.empty())
            row.back()->setToolTip(QString::fromStdString(s.failing.front()));
        cell(QString::number(s.goodput_per_s, 'f', 2));
        cell(ms_text(s.ttft_ms.at_slo));
        cell(ms_text(s.tpot_ms.at_slo));
        cell(QString::number(s.output_tokens_per_s / o.gpus, 'f', 0));
        cell(QString::number(s.tokens_per_s_per_user, 'f', 1));
        cell(o.usd_per_hour > 0 ? QString::number(o.usd_per_million_tokens, 'f', 3) : QStringLiteral("-"));
        if (o.usd_per_hour > 0)
            row.back()->setToolTip(tr("$%1 an hour for %2 GPUs").arg(o.usd_per_hour, 0, 'f', 2).arg(o.gpus));
        m_rows->appendRow(row);
    }
    m_table->resizeColumnsToContents();
    const bool any = !result.options.empty();
    m_status->setText(
        any ? tr("%1 deployments simulated in %2 s; %3. Step times: %4.")
                  .arg(result.simulated)
                  .arg(ms / 1000.0, 0, 'f', 1)
                  .arg(result.options.front().summary.meets_slo ? tr("the first meets the SLO")
                                                                : tr("none within the budget meets the SLO"))
                  .arg(QString::fromStdString(result.step_source))
            : tr("No deployment could be simulated: %1")
                  .arg(result.skipped.empty() ? QString() : QString::fromStdString(result.skipped.front())));
    m_charts->setSearch(result, any ? 0 : -1);
    if (any)
        selectDeployment(0);
    else
        m_charts->clear();
    emit searchFinished(int(result.options.size()));
}

bool ServingView::selectDeployment(int row)
{
    if (row < 0 || row >= m_rows->rowCount())
        return false;
    m_table->setCurrentIndex(m_rows->index(row, 0));
    m_table->scrollTo(m_rows->index(row, 0));
    return true;
}

void ServingView::showDetail(const ServingDetail& detail)
{
    const ServingInputs& in = m_controller->inputs();
    m_charts->setDetail(detail, in.slo);
    int selected = -1;
    for (std::size_t i = 0; i < m_result.options.size(); ++i)
        if (m_result.options[i].label() == detail.option.label()
            && m_result.options[i].gpu_text() == detail.option.gpu_text()
            && m_result.options[i].limits.max_seqs == detail.option.limits.max_seqs)
            selected = int(i);
    m_charts->setSearch(m_result, selected);
    m_shown = detail.option;
    m_saveLaunch->setEnabled(true);
    for (const auto& c : launchCommands({}))
        if (QString::fromStdString(c.engine) == m_engine->currentText())
            m_launch->setPlainText(QString::fromStdString(c.text()));
}

std::vector<serving::LaunchCommands> ServingView::launchCommands(const std::string& replay_file) const
{
    if (!m_shown)
        return {};
    const ServingInputs& in = m_controller->inputs();
    Workload base;
    base.dtype = in.dtype;
    base.kv_dtype = in.kv_dtype;
    return serving::deployment_launch_commands(in.model, base, *m_shown, in.requests(), in.traffic, in.trace_name,
                                               replay_file);
}

bool ServingView::loadTrace(const QString& path)
{
    QString error;
    const bool loaded = m_form->loadTrace(path, &error);
    if (!loaded)
        m_status->setText(error);
    return loaded;
}

void ServingView::clearTrace()
{
    m_form->clearTrace();
}

bool ServingView::saveLaunch(const QString& path)
{
    if (!m_shown) {
        m_status->setText(tr("Select a deployment first: its commands are what is saved"));
        return false;
    }
    const QString replay = path + QStringLiteral(".replay.jsonl");
    try {
        serving::write_mooncake_trace(replay.toStdString(), m_controller->inputs().requests());
        std::string script = "#!/bin/sh\n# " + m_shown->label() + ", simulated by ShardStudio: start one engine's "
                             + "servers, then run its benchmark or the replay.\n";
        for (const auto& c : launchCommands(QFileInfo(replay).fileName().toStdString())) {
            std::string text = c.text();
            // Only the commands run; everything else is a comment.
            std::string commented;
            for (std::size_t at = 0; at < text.size();) {
                const std::size_t end = std::min(text.find('\n', at), text.size());
                const std::string line = text.substr(at, end - at);
                commented += (line.rfind("note: ", 0) == 0 ? "# " : "") + line + "\n";
                at = end + 1;
            }
            script += "\n# ---- " + c.engine + " ----\n" + commented;
        }
        QFile file(path);
        if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate)
            || file.write(script.data(), qint64(script.size())) != qint64(script.size()))
            throw std::runtime_error("cannot write " + path.toStdString());
        m_status->setText(tr("Saved the commands to %1 and the simulated requests to %2").arg(path, replay));
        return true;
    } catch (const std::exception& e) {
        m_status->setText(tr("Nothing saved: %1").arg(QString::fromUtf8(e.what())));
        return false;
    }
}

int ServingView::deploymentCount() const
{
    return m_rows->rowCount();
}

QString ServingView::launchText() const
{
    return m_launch->toPlainText();
}

QString ServingView::statusText() const
{
    return m_status->text();
}

} // namespace shard::ui
