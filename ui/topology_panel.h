#pragma once

#include "core/topology.h"

#include <QWidget>

class QComboBox;
class QLabel;
class QSpinBox;
class QTableWidget;

namespace shard::ui {

// The machine: a preset or the local GPUs (NVML), nodes x GPUs per node, the GPU kind and
// the links of the node and between nodes.
class TopologyPanel : public QWidget {
    Q_OBJECT

public:
    explicit TopologyPanel(QWidget* parent = nullptr);

    const Topology& topology() const { return m_topology; }
    void setTopology(const Topology& topology);
    bool selectPreset(const QString& id);
    QString message() const;

signals:
    void topologyChanged(const shard::Topology& topology);

private:
    void detect();
    void sizeEdited();
    void refresh();

    Topology m_topology;
    bool m_updating = false;
    QComboBox* m_preset = nullptr;
    QSpinBox* m_nodes = nullptr;
    QSpinBox* m_gpus = nullptr;
    QLabel* m_gpu = nullptr;
    QTableWidget* m_links = nullptr;
    QLabel* m_message = nullptr;
};

} // namespace shard::ui
