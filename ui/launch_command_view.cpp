#include "launch_command_view.h"

#include "planner/serving_export.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace shard::ui {

LaunchCommandView::LaunchCommandView(QWidget* parent)
    : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    auto* bar = new QHBoxLayout;
    m_engine = new QComboBox;
    m_engine->setObjectName(QStringLiteral("launchEngine"));
    m_engine->addItem(QStringLiteral("vLLM"), QStringLiteral("vllm"));
    m_engine->addItem(QStringLiteral("SGLang"), QStringLiteral("sglang"));
    m_engine->addItem(QStringLiteral("TensorRT-LLM"), QStringLiteral("trtllm"));
    m_copy = new QPushButton(tr("Copy"));
    m_copy->setObjectName(QStringLiteral("launchCopy"));
    m_copy->setToolTip(tr("Copy the command to the clipboard"));
    bar->addWidget(new QLabel(tr("Serving engine")));
    bar->addWidget(m_engine);
    bar->addStretch(1);
    bar->addWidget(m_copy);
    layout->addLayout(bar);
    m_command = new QPlainTextEdit;
    m_command->setObjectName(QStringLiteral("launchCommand"));
    m_command->setReadOnly(true);
    m_command->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_command->setMaximumHeight(90);
    layout->addWidget(m_command);
    m_notes = new QLabel;
    m_notes->setObjectName(QStringLiteral("launchNotes"));
    m_notes->setWordWrap(true);
    m_notes->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_notes);
    layout->addStretch(1);
    connect(m_engine, &QComboBox::currentIndexChanged, this, &LaunchCommandView::refresh);
    connect(m_copy, &QPushButton::clicked, this, &LaunchCommandView::copyToClipboard);
    refresh();
}

void LaunchCommandView::setPlan(const std::optional<Plan>& plan)
{
    m_plan = plan;
    refresh();
}

bool LaunchCommandView::selectEngine(const QString& engine)
{
    const int index = m_engine->findData(engine);
    if (index >= 0)
        m_engine->setCurrentIndex(index);
    return index >= 0;
}

QString LaunchCommandView::command() const
{
    return m_copy->isEnabled() ? m_command->toPlainText() : QString();
}

QString LaunchCommandView::notes() const
{
    return m_notes->text();
}

void LaunchCommandView::copyToClipboard() const
{
    if (!command().isEmpty())
        QApplication::clipboard()->setText(command());
}

void LaunchCommandView::refresh()
{
    m_command->clear();
    m_copy->setEnabled(false);
    if (!m_plan) {
        m_notes->setText(tr("Select a candidate to see the command that serves it."));
        return;
    }
    try {
        const ServingExport out = export_for_serving(*m_plan, m_engine->currentData().toString().toStdString());
        m_command->setPlainText(QString::fromStdString(out.command));
        m_copy->setEnabled(true);
        QString notes = out.exact ? tr("These flags reproduce the layout.")
                                  : tr("Not an exact equivalent: the closest this engine offers.");
        for (const auto& caveat : out.caveats)
            notes += QStringLiteral("\n• ") + QString::fromStdString(caveat);
        notes += tr("\nReplace the <…-checkpoint> placeholder with the model's repository or path.");
        m_notes->setText(notes);
    } catch (const std::exception& e) {
        m_notes->setText(QString::fromUtf8(e.what()));
    }
}

} // namespace shard::ui
