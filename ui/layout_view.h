#pragma once

#include "planner/planner.h"

#include <QWidget>

class QComboBox;
class QGraphicsScene;
class QGraphicsView;

namespace shard::ui {

// The selected candidate drawn: its device mesh on the topology's nodes and GPUs (what each
// GPU is in the mesh, which fabric each axis runs over), the weight matrices of one layer
// tiled and coloured by the GPU that owns each tile (hover a tile: device, shape, bytes),
// the layer-to-stage strip of pipeline plans, the expert-to-device grid of MoE plans, and the
// collectives of one decode step with the GPUs of their groups.
class LayoutView : public QWidget {
    Q_OBJECT

public:
    explicit LayoutView(QWidget* parent = nullptr);
    void showCandidate(const Candidate* candidate, const ModelSpec& model, const Topology& topology);
    QGraphicsScene* scene() const { return m_scene; }
    // Items tagged by what they draw ("title", "node", "gpu", "tile", "stage", "expert", "collective"), for tests.
    int count(const QString& tag) const;
    QStringList texts(const QString& tag) const; // of the tagged text items
    QList<QRectF> rects(const QString& tag) const; // scene rectangles of the tagged items
    // The whole drawing (not just what the view shows) as .png, .pdf or .svg.
    bool exportTo(const QString& path) const;
    int nodesPerRow() const; // node boxes side by side at the view's present width

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void rebuild();
    void drawCollectives(double x);
    void showFromTopLeft();

    std::optional<Candidate> m_candidate;
    ModelSpec m_model;
    Topology m_topology;
    QComboBox* m_layer = nullptr;
    QGraphicsScene* m_scene = nullptr;
    QGraphicsView* m_view = nullptr;
    int m_nodesPerRow = 4; // as last drawn
};

} // namespace shard::ui
