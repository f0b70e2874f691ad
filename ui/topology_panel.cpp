#include "topology_panel.h"
#include "spin_range.h"

#include "core/gpu_detect.h"
#include "core/presets.h"
#include "core/units.h"

#include "cost/perf_db.h"
#include "store/run_store.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTableWidget>
#include <QVBoxLayout>

#include <utility>

namespace shard::ui {

TopologyPanel::TopologyPanel(QWidget* parent)
    : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    auto* top = new QHBoxLayout;
    m_preset = new QComboBox;
    // Long names are elided in the box (the list shows them whole): the dock stays narrow.
    m_preset->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_preset->setMinimumContentsLength(18);
    m_preset->setObjectName(QStringLiteral("topologyPreset"));
    for (const auto& t : PresetLibrary::instance().topologies())
        m_preset->addItem(QString::fromStdString(t.name), QString::fromStdString(t.id));
    auto* detect = new QPushButton(tr("Detect local GPUs"));
    detect->setObjectName(QStringLiteral("detectGpus"));
    top->addWidget(m_preset, 1);
    top->addWidget(detect);
    layout->addLayout(top);
    auto* form = new QFormLayout;
    m_nodes = new QSpinBox;
    setRange(m_nodes, limits::kNodes);
    m_gpus = new QSpinBox;
    setRange(m_gpus, limits::kGpusPerNode);
    for (QSpinBox* box : {m_nodes, m_gpus})
        box->setKeyboardTracking(false);
    form->addRow(tr("Nodes"), m_nodes);
    form->addRow(tr("GPUs per node"), m_gpus);
    m_gpu = new QLabel;
    m_gpu->setWordWrap(true);
    form->addRow(tr("GPU"), m_gpu);
    m_tables = new QComboBox;
    // Long names are elided in the box (the list shows them whole): the dock stays narrow.
    m_tables->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_tables->setMinimumContentsLength(18);
    m_tables->setObjectName(QStringLiteral("predictionTables"));
    m_tables->addItem(tr("Auto (profile if measured)"), QStringLiteral("auto"));
    m_tables->addItem(tr("This machine's profile"), QStringLiteral("profile"));
    m_tables->addItem(tr("Shipped measured tables"), QStringLiteral("shipped"));
    m_tables->addItem(tr("Roofline only"), QStringLiteral("roofline"));
    m_tables->setToolTip(tr("Where predicted kernel times come from for this GPU kind: a profile `shard-engine "
                            "profile` measured on this machine, the measured tables shipped with ShardStudio "
                            "(NVIDIA AIConfigurator, corrected by your stored runs), or datasheet peaks"));
    form->addRow(tr("Kernel times"), m_tables);
    m_source = new QLabel;
    m_source->setObjectName(QStringLiteral("predictionSource"));
    m_source->setWordWrap(true);
    m_source->setStyleSheet(QStringLiteral("color: gray"));
    form->addRow(QString(), m_source);
    layout->addLayout(form);
    m_links = new QTableWidget(2, 4);
    m_links->setHorizontalHeaderLabels({tr("Link"), tr("Fabric"), tr("busbw GB/s"), tr("Latency µs")});
    m_links->verticalHeader()->hide();
    m_links->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_links->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_links->setMaximumHeight(90);
    m_links->setToolTip(tr("nccl-tests style bus bandwidth per GPU and small-message latency the cost model uses"));
    layout->addWidget(m_links);
    m_message = new QLabel;
    m_message->setObjectName(QStringLiteral("topologyMessage"));
    m_message->setWordWrap(true);
    m_message->hide();
    layout->addWidget(m_message);
    layout->addStretch(1);

    connect(m_preset, &QComboBox::currentIndexChanged, this, [this](int index) {
        if (!m_updating && index >= 0)
            setTopology(PresetLibrary::instance().topology(m_preset->itemData(index).toString().toStdString()));
    });
    connect(m_tables, &QComboBox::currentIndexChanged, this, [this](int index) {
        if (m_updating || index < 0)
            return;
        m_tableChoice[m_topology.gpu.name] = parse_table_source(m_tables->itemData(index).toString().toStdString());
        refreshSource();
        emit topologyChanged(m_topology); // the same machine, priced from another source
    });
    connect(detect, &QPushButton::clicked, this, &TopologyPanel::detect);
    connect(m_nodes, &QSpinBox::valueChanged, this, &TopologyPanel::sizeEdited);
    connect(m_gpus, &QSpinBox::valueChanged, this, &TopologyPanel::sizeEdited);
}

void TopologyPanel::setTopology(const Topology& topology)
{
    m_topology = topology;
    refresh();
    emit topologyChanged(m_topology);
}

bool TopologyPanel::selectPreset(const QString& id)
{
    const int index = m_preset->findData(id);
    if (index < 0)
        return false;
    if (index == m_preset->currentIndex())
        setTopology(PresetLibrary::instance().topology(id.toStdString()));
    else
        m_preset->setCurrentIndex(index);
    return true;
}

QString TopologyPanel::message() const
{
    return m_message->text();
}

void TopologyPanel::detect()
{
    const GpuDetection found = detect_local_gpus();
    if (found.gpus.empty()) {
        m_message->setText(tr("No local GPUs: %1").arg(QString::fromStdString(found.message)));
        m_message->show();
        return;
    }
    m_message->setText(
        tr("Detected %1 GPU(s), driver %2").arg(found.gpus.size()).arg(QString::fromStdString(found.driver_version)));
    m_message->show();
    setTopology(topology_from_detection(found));
}

void TopologyPanel::sizeEdited()
{
    if (m_updating)
        return;
    Topology edited = m_topology;
    edited.nodes = m_nodes->value();
    edited.gpus_per_node = m_gpus->value();
    edited.name = std::to_string(edited.nodes) + " x " + std::to_string(edited.gpus_per_node) + " " + edited.gpu.name;
    setTopology(edited);
}

void TopologyPanel::refresh()
{
    m_updating = true;
    const int index = m_preset->findData(QString::fromStdString(m_topology.id));
    if (index >= 0)
        m_preset->setCurrentIndex(index);
    m_nodes->setValue(m_topology.nodes);
    m_gpus->setValue(m_topology.gpus_per_node);
    const GpuKind& g = m_topology.gpu;
    m_gpu->setText(
        tr("%1: %2, %3 TFLOP/s bf16, %4 TB/s HBM")
            .arg(QString::fromStdString(g.name), QString::fromStdString(format_bytes(double(g.memory_bytes))))
            .arg(g.bf16_tflops, 0, 'f', 0)
            .arg(g.hbm_gbps / 1000.0, 0, 'f', 2));
    auto row = [&](int r, const QString& name, const Link& link) {
        m_links->setItem(r, 0, new QTableWidgetItem(name));
        m_links->setItem(r, 1, new QTableWidgetItem(QString::fromStdString(link.kind)));
        m_links->setItem(r, 2, new QTableWidgetItem(QString::number(link.busbw_gbps, 'f', 0)));
        m_links->setItem(r, 3, new QTableWidgetItem(QString::number(link.latency_us, 'f', 1)));
    };
    row(0, tr("in a node"), m_topology.intra);
    row(1, m_topology.nodes > 1 ? tr("between nodes (%1 NICs)").arg(m_topology.nics_per_node) : tr("between nodes"),
        m_topology.inter);
    refreshSource();
    m_updating = false;
}

TableSource TopologyPanel::tableSource() const
{
    const auto it = m_tableChoice.find(m_topology.gpu.name);
    return it == m_tableChoice.end() ? TableSource::Auto : it->second;
}

void TopologyPanel::refreshSource()
{
    const bool updating = std::exchange(m_updating, true);
    const GpuKind& gpu = m_topology.gpu;
    const QString name = QString::fromStdString(gpu.name);
    const auto profile = usable_profile(gpu, RunStore::default_path());
    const bool shipped = PerfDb::system_for(gpu).has_value();
    // A profile can only be chosen where one exists; a choice whose profile went away
    // falls back to auto.
    auto* model = qobject_cast<QStandardItemModel*>(m_tables->model());
    model->item(1)->setEnabled(profile.has_value());
    TableSource source = tableSource();
    if (source == TableSource::Profile && !profile)
        source = m_tableChoice[gpu.name] = TableSource::Auto;
    m_tables->setCurrentIndex(m_tables->findData(QString::fromStdString(to_string(source))));
    const bool useProfile = profile && (source == TableSource::Auto || source == TableSource::Profile);
    const QString rest = shipped ? tr("the shipped tables") : tr("the roofline");
    QString tip;
    if (source == TableSource::Roofline) {
        m_source->setText(tr("Every kernel time from datasheet peaks and fitted efficiencies."));
        m_sourceSummary = tr("by the roofline (measured tables switched off)");
    } else if (useProfile) {
        m_source->setText(tr("Profile #%1 of this machine, %2: %3; the rest from %4.")
                              .arg(profile->id)
                              .arg(QString::fromStdString(profile->created_at.substr(0, 10)),
                                   QString::fromStdString(profile->measured()), rest));
        tip = tr("%1 x %2, driver %3, CUDA %4, NCCL %5, %6 sweep, measured %7 by shard-engine profile")
                  .arg(profile->devices)
                  .arg(QString::fromStdString(profile->gpu_name), QString::fromStdString(profile->driver),
                       QString::fromStdString(profile->cuda), QString::fromStdString(profile->nccl),
                       profile->quick ? tr("quick") : tr("full"), QString::fromStdString(profile->created_at));
        m_sourceSummary =
            tr("from this machine's profile (%1) and %2").arg(QString::fromStdString(profile->label()), rest);
    } else {
        m_source->setText((shipped ? tr("Measured %1 tables shipped with ShardStudio (NVIDIA AIConfigurator).")
                                   : tr("The roofline: no measured tables ship for %1."))
                              .arg(name)
                          + (profile ? QString()
                                     : tr(" No profile of this GPU kind on this machine (shard-engine profile "
                                          "measures one).")));
        m_sourceSummary = shipped ? tr("from measured %1 kernel tables and the roofline").arg(name)
                                  : tr("by the roofline (no measured tables for %1)").arg(name);
    }
    m_source->setToolTip(tip);
    m_updating = updating;
}

} // namespace shard::ui
