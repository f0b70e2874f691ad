#include "workload_panel.h"
#include "spin_range.h"

#include "core/dtype.h"

#include <QComboBox>
#include <QFormLayout>
#include <QSpinBox>

namespace shard::ui {

WorkloadPanel::WorkloadPanel(QWidget* parent)
    : QWidget(parent)
{
    auto* form = new QFormLayout(this);
    m_phase = new QComboBox;
    for (const char* p : {"both", "prefill", "decode"})
        m_phase->addItem(QString::fromLatin1(p), QString::fromLatin1(p));
    m_batch = new QSpinBox;
    setRange(m_batch, limits::kBatch);
    m_batch->setObjectName(QStringLiteral("batch"));
    m_prompt = new QSpinBox;
    setRange(m_prompt, limits::kPrompt);
    m_prompt->setSuffix(tr(" tokens"));
    m_generate = new QSpinBox;
    setRange(m_generate, limits::kGenerate);
    m_generate->setSuffix(tr(" tokens"));
    m_dtype = new QComboBox;
    m_kvDtype = new QComboBox;
    for (const char* d : {"bf16", "fp16", "fp8", "fp32"}) {
        m_dtype->addItem(QString::fromLatin1(d), QString::fromLatin1(d));
        m_kvDtype->addItem(QString::fromLatin1(d), QString::fromLatin1(d));
    }
    m_objective = new QComboBox;
    m_objective->addItem(tr("time per output token"), QStringLiteral("tpot"));
    m_objective->addItem(tr("time to first token"), QStringLiteral("ttft"));
    m_objective->addItem(tr("throughput"), QStringLiteral("throughput"));
    m_objective->addItem(tr("memory per GPU"), QStringLiteral("memory"));
    m_objective->setObjectName(QStringLiteral("objective"));
    form->addRow(tr("Phase"), m_phase);
    form->addRow(tr("Batch (sequences)"), m_batch);
    form->addRow(tr("Prompt"), m_prompt);
    form->addRow(tr("Generate"), m_generate);
    form->addRow(tr("Weights / activations"), m_dtype);
    form->addRow(tr("KV cache"), m_kvDtype);
    form->addRow(tr("Rank by"), m_objective);
    for (QSpinBox* box : {m_batch, m_prompt, m_generate}) {
        box->setKeyboardTracking(false);
        connect(box, &QSpinBox::valueChanged, this, [this] {
            if (!m_updating)
                emit workloadChanged(workload());
        });
    }
    for (QComboBox* box : {m_phase, m_dtype, m_kvDtype, m_objective})
        connect(box, &QComboBox::currentIndexChanged, this, [this] {
            if (!m_updating)
                emit workloadChanged(workload());
        });
    setWorkload(Workload{});
}

Workload WorkloadPanel::workload() const
{
    Workload w;
    w.phase = parse_phase(m_phase->currentData().toString().toStdString());
    w.batch = m_batch->value();
    w.prompt = m_prompt->value();
    w.generate = m_generate->value();
    w.dtype = parse_dtype(m_dtype->currentData().toString().toStdString());
    w.kv_dtype = parse_dtype(m_kvDtype->currentData().toString().toStdString());
    w.objective = parse_objective(m_objective->currentData().toString().toStdString());
    return w;
}

void WorkloadPanel::setWorkload(const Workload& w)
{
    m_updating = true;
    m_phase->setCurrentIndex(m_phase->findData(QString::fromStdString(to_string(w.phase))));
    m_batch->setValue(w.batch);
    m_prompt->setValue(w.prompt);
    m_generate->setValue(w.generate);
    m_dtype->setCurrentIndex(m_dtype->findData(QString::fromStdString(to_string(w.dtype))));
    m_kvDtype->setCurrentIndex(m_kvDtype->findData(QString::fromStdString(to_string(w.kv_dtype))));
    m_objective->setCurrentIndex(m_objective->findData(QString::fromStdString(to_string(w.objective))));
    m_updating = false;
}

} // namespace shard::ui
