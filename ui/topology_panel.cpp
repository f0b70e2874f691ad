#include "topology_panel.h"
#include "spin_range.h"

#include "core/gpu_detect.h"
#include "core/presets.h"
#include "core/units.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

namespace shard::ui {

TopologyPanel::TopologyPanel(QWidget* parent)
    : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    auto* top = new QHBoxLayout;
    m_preset = new QComboBox;
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
    m_updating = false;
}

} // namespace shard::ui
