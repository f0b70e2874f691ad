#include "serving_form.h"

#include "core/error.h"
#include "core/presets.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>

namespace shard::ui {

namespace {

QDoubleSpinBox* number_box(double low, double high, double value, int decimals, const QString& suffix)
{
    auto* box = new QDoubleSpinBox;
    box->setRange(low, high);
    box->setDecimals(decimals);
    box->setValue(value);
    box->setSuffix(suffix);
    box->setKeyboardTracking(false);
    return box;
}

} // namespace

ServingForm::ServingForm(QWidget* parent)
    : QWidget(parent)
{
    auto* form = new QFormLayout(this);
    form->setContentsMargins(0, 0, 0, 0);
    m_rate = number_box(0.001, 1e6, 4, 3, tr(" req/s"));
    m_burstiness = number_box(0.05, 20, 1, 2, QString());
    m_burstiness->setToolTip(
        tr("Coefficient of variation of the gaps between requests: 1 is Poisson, more is burstier"));
    m_promptLen = new QLineEdit(QStringLiteral("lognormal:1500,p90=3000"));
    m_outputLen = new QLineEdit(QStringLiteral("lognormal:250,p90=500"));
    for (QLineEdit* e : {m_promptLen, m_outputLen})
        e->setToolTip(tr("Tokens: N, uniform:LOW-HIGH or lognormal:MEAN,p90=P90"));
    m_requests = new QSpinBox;
    m_requests->setRange(10, 100000);
    m_requests->setValue(1000);
    m_sharedPrefix = new QSpinBox;
    m_sharedPrefix->setRange(0, 1 << 20);
    m_sharedPrefix->setSuffix(tr(" tokens"));
    m_sharedPrefix->setSpecialValueText(tr("none"));
    m_sharedPrefix->setToolTip(tr("The first tokens of every prompt are one system prompt the prefix cache can reuse"));
    m_prefixCaching = new QCheckBox(tr("Prefix caching"));
    m_prefixCaching->setChecked(true);
    m_prefixCaching->setToolTip(tr("Requests sharing a prefix read its cached KV blocks instead of computing them "
                                   "(vLLM's automatic prefix caching, SGLang's radix cache)"));
    m_traceLabel = new QLabel(tr("generated"));
    m_traceLabel->setObjectName(QStringLiteral("servingTraceLabel"));
    m_traceLabel->setWordWrap(true);
    m_loadTrace = new QPushButton(tr("Load trace..."));
    m_loadTrace->setToolTip(tr("A CSV of arrival_s, prompt_tokens, output_tokens and optionally prefix_id and "
                               "prefix_tokens"));
    m_clearTrace = new QPushButton(tr("Generate"));
    m_clearTrace->setEnabled(false);
    auto* traceRow = new QHBoxLayout;
    traceRow->addWidget(m_loadTrace);
    traceRow->addWidget(m_clearTrace);
    m_ttft = number_box(0, 1e7, 2000, 0, tr(" ms"));
    m_tpot = number_box(0, 1e5, 50, 1, tr(" ms"));
    m_percentile = number_box(1, 100, 90, 1, QString());
    m_maxGpus = new QSpinBox;
    m_maxGpus->setRange(0, 1 << 20);
    m_maxGpus->setSpecialValueText(tr("every GPU"));
    m_maxUsd = number_box(0, 1e7, 0, 0, tr(" $/hour"));
    m_maxUsd->setSpecialValueText(tr("none"));
    m_maxUsd->setToolTip(tr("What the deployment's GPUs may cost an hour, at the prices below"));
    m_prices = new QLineEdit(QStringLiteral("2.50"));
    m_prices->setObjectName(QStringLiteral("servingPrices"));
    m_prices->setToolTip(tr("US dollars per GPU-hour: one price for every kind (2.50), or one per kind "
                            "(h100=2.49, h200=3.79); empty: no costs"));
    m_alsoOn = new QComboBox;
    m_alsoOn->setObjectName(QStringLiteral("servingAlsoOn"));
    m_alsoOn->addItem(tr("nothing else"), QString());
    for (const Topology& t : PresetLibrary::instance().topologies())
        m_alsoOn->addItem(QString::fromStdString(t.name), QString::fromStdString(t.id));
    m_alsoOn->setToolTip(tr("More nodes, e.g. of another GPU kind: deployments on either, and prefill and decode "
                            "pools across both"));
    m_objective = new QComboBox;
    m_objective->addItem(tr("Fewest GPUs meeting the SLO"), QStringLiteral("gpus"));
    m_objective->addItem(tr("Most goodput per GPU"), QStringLiteral("goodput"));
    m_objective->addItem(tr("Lowest cost per million tokens"), QStringLiteral("cost"));
    for (QComboBox* box : {m_alsoOn, m_objective})
        box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    form->addRow(tr("Traffic"), m_traceLabel);
    form->addRow(QString(), traceRow);
    form->addRow(tr("Request rate"), m_rate);
    form->addRow(tr("Burstiness"), m_burstiness);
    form->addRow(tr("Prompt tokens"), m_promptLen);
    form->addRow(tr("Output tokens"), m_outputLen);
    form->addRow(tr("Requests simulated"), m_requests);
    form->addRow(tr("Shared prefix"), m_sharedPrefix);
    form->addRow(QString(), m_prefixCaching);
    form->addRow(tr("TTFT SLO (0: none)"), m_ttft);
    form->addRow(tr("TPOT SLO (0: none)"), m_tpot);
    form->addRow(tr("At percentile"), m_percentile);
    form->addRow(tr("Also deploy on"), m_alsoOn);
    form->addRow(tr("GPU budget"), m_maxGpus);
    form->addRow(tr("Money budget"), m_maxUsd);
    form->addRow(tr("Price per GPU-hour"), m_prices);
    form->addRow(tr("Rank by"), m_objective);

    connect(m_loadTrace, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Load a request trace"), QString(),
                                                          tr("Trace CSV (*.csv);;All files (*)"));
        QString error;
        if (!path.isEmpty() && !loadTrace(path, &error))
            emit traceRefused(error);
    });
    connect(m_clearTrace, &QPushButton::clicked, this, &ServingForm::clearTrace);
}

void ServingForm::fill(ServingInputs& in) const
{
    if (m_trace) {
        in.trace = m_trace;
        in.trace_name = m_traceName.toStdString();
        in.traffic = serving::describe_trace(*m_trace);
    } else {
        in.traffic.arrivals.kind =
            m_burstiness->value() == 1 ? serving::Arrivals::Kind::Poisson : serving::Arrivals::Kind::Gamma;
        in.traffic.arrivals.rate = m_rate->value();
        in.traffic.arrivals.burstiness = m_burstiness->value();
        in.traffic.prompt = serving::LengthDistribution::parse(m_promptLen->text().toStdString());
        in.traffic.output = serving::LengthDistribution::parse(m_outputLen->text().toStdString());
        in.traffic.requests = m_requests->value();
        in.traffic.shared_prefix = m_sharedPrefix->value();
    }
    in.space.prefix_caching = m_prefixCaching->isChecked();
    in.slo.ttft_ms = m_ttft->value();
    in.slo.tpot_ms = m_tpot->value();
    in.slo.percentile = m_percentile->value();
    in.space.max_gpus = m_maxGpus->value();
    in.space.max_usd_per_hour = m_maxUsd->value();
    in.space.prices = serving::GpuPrices::parse(m_prices->text().toStdString());
    const QString also = m_alsoOn->currentData().toString();
    in.also_on.reset();
    if (!also.isEmpty())
        in.also_on = PresetLibrary::instance().topology(also.toStdString());
    in.objective = serving::parse_search_objective(m_objective->currentData().toString().toStdString());
}

bool ServingForm::loadTrace(const QString& path, QString* error)
{
    try {
        auto requests = std::make_shared<std::vector<serving::Request>>(serving::read_trace_csv(path.toStdString()));
        const serving::TrafficSpec shape = serving::describe_trace(*requests);
        m_trace = std::move(requests);
        m_traceName = QFileInfo(path).fileName();
        m_traceLabel->setText(tr("trace %1: %2 requests, %3 req/s, prompts %4 and outputs %5 tokens on average")
                                  .arg(m_traceName)
                                  .arg(m_trace->size())
                                  .arg(shape.arrivals.rate, 0, 'f', 2)
                                  .arg(shape.prompt.a, 0, 'f', 0)
                                  .arg(shape.output.a, 0, 'f', 0));
        setGeneratedTrafficEnabled(false);
        return true;
    } catch (const std::exception& e) {
        if (error)
            *error = tr("The trace was not loaded: %1").arg(QString::fromUtf8(e.what()));
        return false;
    }
}

void ServingForm::clearTrace()
{
    m_trace.reset();
    m_traceName.clear();
    m_traceLabel->setText(tr("generated"));
    setGeneratedTrafficEnabled(true);
}

void ServingForm::setGeneratedTrafficEnabled(bool enabled)
{
    for (QWidget* w :
         std::initializer_list<QWidget*>{m_rate, m_burstiness, m_promptLen, m_outputLen, m_requests, m_sharedPrefix})
        w->setEnabled(enabled);
    m_clearTrace->setEnabled(!enabled);
}

} // namespace shard::ui
