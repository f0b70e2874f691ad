#include "layout_view.h"

#include "chart_export.h"

#include "core/units.h"
#include "cost/device_mesh.h"
#include "cost/predicted_timeline.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QGraphicsRectItem>
#include <QGraphicsScene>
#include <QGraphicsSimpleTextItem>
#include <QGraphicsView>
#include <QHBoxLayout>
#include <QLabel>
#include <QScrollBar>
#include <QVBoxLayout>

namespace shard::ui {

namespace {

constexpr int kTagKey = 0;

QColor rank_color(int rank)
{
    static const QColor colors[] = {{0x4e, 0x79, 0xa7}, {0xf2, 0x8e, 0x2b}, {0xe1, 0x57, 0x59}, {0x76, 0xb7, 0xb2},
                                    {0x59, 0xa1, 0x4f}, {0xed, 0xc9, 0x48}, {0xb0, 0x7a, 0xa1}, {0xff, 0x9d, 0xa7},
                                    {0x9c, 0x75, 0x5f}, {0xba, 0xb0, 0xac}, {0x1f, 0x77, 0xb4}, {0xd6, 0x27, 0x28},
                                    {0x2c, 0xa0, 0x2c}, {0x94, 0x67, 0xbd}, {0x8c, 0x56, 0x4b}, {0x17, 0xbe, 0xcf}};
    return colors[rank % 16];
}

QGraphicsSimpleTextItem* label(QGraphicsScene* scene, const QString& text, double x, double y, bool bold = false)
{
    auto* item = scene->addSimpleText(text);
    QFont font = item->font();
    font.setBold(bold);
    item->setFont(font);
    item->setPos(x, y);
    return item;
}

// One owned block of a weight matrix, in matrix coordinates.
struct Block {
    std::int64_t r0, r1, c0, c1;
    QList<int> owners; // tensor-group ranks holding it (more than one: replicated)
};

// How a [rows x cols] weight is split over the tensor group. `second` is the second linear
// of a pair (down / o-projection), which Megatron splits by rows.
std::vector<Block> split_weight(const Strategy& s, std::int64_t rows, std::int64_t cols, bool second)
{
    const int t = s.tensor_size();
    std::vector<Block> blocks;
    auto even = [](std::int64_t n, int parts, int i) { return n * i / parts; };
    const auto& shape = s.tensor_shape;
    switch (s.tensor_mode) {
    case TensorMode::None:
        blocks.push_back({0, rows, 0, cols, {0}});
        break;
    case TensorMode::Column1D:
    case TensorMode::Megatron1D:
    case TensorMode::MegatronSP: {
        const bool by_rows = second && s.tensor_mode != TensorMode::Column1D;
        for (int r = 0; r < t; ++r)
            blocks.push_back(by_rows ? Block{even(rows, t, r), even(rows, t, r + 1), 0, cols, {r}}
                                     : Block{0, rows, even(cols, t, r), even(cols, t, r + 1), {r}});
        break;
    }
    case TensorMode::Row1D:
        for (int r = 0; r < t; ++r)
            blocks.push_back({even(rows, t, r), even(rows, t, r + 1), 0, cols, {r}});
        break;
    case TensorMode::Summa2D:
    case TensorMode::WeightStationary2D:
        for (int i = 0; i < shape[0]; ++i)
            for (int j = 0; j < shape[1]; ++j)
                blocks.push_back({even(rows, shape[0], i),
                                  even(rows, shape[0], i + 1),
                                  even(cols, shape[1], j),
                                  even(cols, shape[1], j + 1),
                                  {i * shape[1] + j}});
        break;
    case TensorMode::Tesseract25D: // q x q blocks, the same on every depth layer
        for (int i = 0; i < shape[1]; ++i)
            for (int j = 0; j < shape[2]; ++j) {
                Block b{even(rows, shape[1], i),
                        even(rows, shape[1], i + 1),
                        even(cols, shape[2], j),
                        even(cols, shape[2], j + 1),
                        {}};
                for (int d = 0; d < shape[0]; ++d)
                    b.owners << d * shape[1] * shape[2] + i * shape[2] + j;
                blocks.push_back(b);
            }
        break;
    case TensorMode::Cube3D: // q x q blocks, each cut over the third axis
        for (int i = 0; i < shape[1]; ++i)
            for (int j = 0; j < shape[2]; ++j)
                for (int k = 0; k < shape[0]; ++k) {
                    const std::int64_t r0 = even(rows, shape[1], i), r1 = even(rows, shape[1], i + 1);
                    blocks.push_back({r0 + even(r1 - r0, shape[0], k),
                                      r0 + even(r1 - r0, shape[0], k + 1),
                                      even(cols, shape[2], j),
                                      even(cols, shape[2], j + 1),
                                      {k * shape[1] * shape[2] + i * shape[2] + j}});
                }
        break;
    }
    return blocks;
}

// A GPU's cell in the mesh drawing, the gap around it, and the gap between node boxes (px).
constexpr double kGpuCell = 64, kGpuGap = 8, kNodeGap = 16;

double node_width(const Topology& topology)
{
    return std::min(topology.gpus_per_node, 8) * (kGpuCell + kGpuGap) + kGpuGap;
}

} // namespace

LayoutView::LayoutView(QWidget* parent)
    : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Weights of one layer:")));
    m_layer = new QComboBox;
    m_layer->addItem(tr("MLP: up (hidden x ffn) and down (ffn x hidden)"));
    m_layer->addItem(tr("Attention: QKV (hidden x heads·d) and out-projection (heads·d x hidden)"));
    bar->addWidget(m_layer, 1);
    layout->addLayout(bar);
    m_scene = new QGraphicsScene(this);
    m_view = new QGraphicsView(m_scene);
    m_view->setObjectName(QStringLiteral("layoutView"));
    m_view->setRenderHint(QPainter::Antialiasing);
    m_view->setDragMode(QGraphicsView::ScrollHandDrag);
    m_view->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    layout->addWidget(m_view, 1);
    connect(m_layer, &QComboBox::currentIndexChanged, this, &LayoutView::rebuild);
}

void LayoutView::showCandidate(const Candidate* candidate, const ModelSpec& model, const Topology& topology)
{
    m_candidate = candidate ? std::optional<Candidate>(*candidate) : std::nullopt;
    m_model = model;
    m_topology = topology;
    rebuild();
}

int LayoutView::nodesPerRow() const
{
    // As many node boxes side by side as the view is wide (at most four): a second node must
    // not sit off screen where nobody scrolls to it.
    const double width = m_view->viewport()->width() - 20;
    return std::clamp(int((width + kNodeGap) / (node_width(m_topology) + kNodeGap)), 1, 4);
}

void LayoutView::resizeEvent(QResizeEvent* event)
{
    QWidget::resizeEvent(event);
    if (m_candidate && m_topology.nodes > 1 && nodesPerRow() != m_nodesPerRow)
        rebuild();
}

int LayoutView::count(const QString& tag) const
{
    int n = 0;
    for (const QGraphicsItem* item : m_scene->items())
        n += item->data(kTagKey).toString() == tag ? 1 : 0;
    return n;
}

QStringList LayoutView::texts(const QString& tag) const
{
    QStringList out;
    for (const QGraphicsItem* item : m_scene->items())
        if (item->data(kTagKey).toString() == tag)
            if (const auto* text = dynamic_cast<const QGraphicsSimpleTextItem*>(item))
                out << text->text();
    return out;
}

QList<QRectF> LayoutView::rects(const QString& tag) const
{
    QList<QRectF> out;
    for (const QGraphicsItem* item : m_scene->items())
        if (item->data(kTagKey).toString() == tag)
            out << item->sceneBoundingRect();
    return out;
}

bool LayoutView::exportTo(const QString& path) const
{
    const QRectF source = m_scene->sceneRect();
    const QRectF target(QPointF(0, 0), source.size());
    return paint_to_file(path, source.size().toSize(), [&](QCPPainter& painter) {
        painter.setRenderHint(QPainter::Antialiasing);
        painter.fillRect(target, Qt::white);
        m_scene->render(&painter, target, source);
    });
}

void LayoutView::rebuild()
{
    m_scene->clear();
    if (!m_candidate) {
        label(m_scene, tr("Select a candidate to see its layout."), 0, 0);
        return;
    }
    const Strategy& s = m_candidate->strategy;
    const int t = s.tensor_size();
    const int stage_size = s.dp * t;
    const int e = bytes_per_element(m_model.dtype);
    label(m_scene,
          tr("%1 (%2) on %3")
              .arg(QString::fromStdString(s.label()), QString::fromStdString(s.mesh_text()),
                   QString::fromStdString(m_topology.name)),
          0, -30, true)
        ->setData(kTagKey, QStringLiteral("title"));

    // The device mesh on the topology: one box per node, one cell per GPU.
    const double cell = kGpuCell, gap = kGpuGap;
    double y = 0;
    std::vector<int> position_of_gpu(std::size_t(m_topology.total_gpus()), -1);
    for (int p = 0; p < s.devices(); ++p)
        if (s.gpu_of(p) < int(position_of_gpu.size()))
            position_of_gpu[std::size_t(s.gpu_of(p))] = p;
    const int per_row = std::min(m_topology.gpus_per_node, 8);
    const int node_rows = (m_topology.gpus_per_node + per_row - 1) / per_row;
    const double node_w = node_width(m_topology);
    const double node_h = node_rows * (cell + gap) + gap + 18;
    const int shown_nodes = std::min(m_topology.nodes, 8);
    m_nodesPerRow = nodesPerRow();
    for (int n = 0; n < shown_nodes; ++n) {
        const double nx = (n % m_nodesPerRow) * (node_w + kNodeGap), ny = y + (n / m_nodesPerRow) * (node_h + kNodeGap);
        auto* box =
            m_scene->addRect(nx, ny, node_w, node_h, QPen(QColor(0x60, 0x60, 0x60)), QBrush(QColor(0xf4, 0xf4, 0xf4)));
        box->setData(kTagKey, QStringLiteral("node"));
        box->setToolTip(
            tr("node %1: %2 x %3, %4 inside")
                .arg(n)
                .arg(m_topology.gpus_per_node)
                .arg(QString::fromStdString(m_topology.gpu.name), QString::fromStdString(m_topology.intra.kind)));
        label(m_scene, tr("node %1").arg(n), nx + 6, ny + 2);
        for (int g = 0; g < m_topology.gpus_per_node; ++g) {
            const int gpu = n * m_topology.gpus_per_node + g;
            const int p = position_of_gpu[std::size_t(gpu)];
            const double gx = nx + gap + (g % per_row) * (cell + gap),
                         gy = ny + 18 + gap + (g / per_row) * (cell + gap);
            const int stage = p >= 0 ? p / stage_size : 0;
            const int replica = p >= 0 ? (p % stage_size) / t : 0;
            const int tensor = p >= 0 ? p % t : 0;
            QColor fill = p >= 0 ? rank_color(tensor) : QColor(0xdd, 0xdd, 0xdd);
            fill.setAlpha(replica == 0 && stage == 0 ? 255 : 150);
            auto* rect = m_scene->addRect(gx, gy, cell, cell,
                                          QPen(stage % 2 ? Qt::black : QColor(0x30, 0x30, 0x30), stage % 2 ? 2 : 1),
                                          QBrush(fill));
            rect->setData(kTagKey, QStringLiteral("gpu"));
            rect->setToolTip(p < 0 ? tr("GPU %1: unused").arg(gpu)
                                   : tr("GPU %1: mesh position %2, stage %3, replica %4, tensor rank %5")
                                         .arg(gpu)
                                         .arg(p)
                                         .arg(stage)
                                         .arg(replica)
                                         .arg(tensor));
            label(m_scene, QStringLiteral("GPU %1").arg(gpu), gx + 4, gy + 4);
            if (p >= 0)
                label(m_scene, QStringLiteral("pp%1 dp%2\ntp%3").arg(stage).arg(replica).arg(tensor), gx + 4, gy + 22);
        }
    }
    y += ((shown_nodes + m_nodesPerRow - 1) / m_nodesPerRow) * (node_h + kNodeGap);
    if (m_topology.nodes > shown_nodes)
        label(m_scene, tr("… and %1 more nodes laid out the same way").arg(m_topology.nodes - shown_nodes), 0, y),
            y += 22;
    // Which fabric each mesh axis runs over.
    const DeviceMesh mesh(s, m_topology);
    QStringList axes;
    if (t > 1) {
        const GroupLink link = mesh.group(t, 1, 0);
        axes << tr("tensor group of %1 over %2 (%3 GB/s busbw)")
                    .arg(t)
                    .arg(QString::fromStdString(link.fabric))
                    .arg(link.busbw_gbps, 0, 'f', 0);
    }
    if (s.dp > 1)
        axes << tr("%1 replicas, no traffic between them").arg(s.dp);
    if (s.pp > 1) {
        const GroupLink link = mesh.stage_link();
        axes << tr("%1 pipeline stages, hand-offs over %2").arg(s.pp).arg(QString::fromStdString(link.fabric));
    }
    label(m_scene, axes.isEmpty() ? tr("one GPU: no communication") : axes.join(QStringLiteral(";  ")), 0, y);
    y += 36;
    if (!m_candidate->estimate.feasible) {
        // Only where its ranks would sit: no weight is split, no collective priced, for a
        // layout the planner rejected.
        auto* why = label(m_scene,
                          tr("Rejected: %1.\nThe planner priced nothing for it: no weight tiles, no collectives.")
                              .arg(QString::fromStdString(m_candidate->estimate.reason)),
                          0, y, true);
        why->setBrush(QColor(0xc0, 0x39, 0x2b));
        why->setData(kTagKey, QStringLiteral("rejected"));
        showFromTopLeft();
        return;
    }

    // The weights of one layer, tiled by owner.
    const bool mlp = m_layer->currentIndex() == 0;
    const std::int64_t h = m_model.hidden;
    const std::int64_t inner = mlp ? m_model.ffn : m_model.q_width();
    const double scale = 260.0 / double(std::max(h, inner));
    double x = 0;
    for (const bool second : {false, true}) {
        const std::int64_t rows = second ? inner : h, cols = second ? h : inner;
        const QString name = mlp ? (second ? tr("down [%1 x %2]") : tr("up [%1 x %2]"))
                                 : (second ? tr("out-proj [%1 x %2]") : tr("QKV (Q part) [%1 x %2]"));
        label(m_scene, name.arg(rows).arg(cols), x, y);
        const bool replicated_attention = !mlp && s.attention == AttentionMode::Data;
        for (const Block& b : split_weight(replicated_attention ? Strategy{} : s, rows, cols, second)) {
            const QRectF r(x + double(b.c0) * scale, y + 20 + double(b.r0) * scale, double(b.c1 - b.c0) * scale,
                           double(b.r1 - b.r0) * scale);
            auto* tile = m_scene->addRect(r, QPen(Qt::white, 1), QBrush(rank_color(b.owners.front())));
            tile->setData(kTagKey, QStringLiteral("tile"));
            QStringList owners;
            for (const int o : b.owners)
                owners << QStringLiteral("tp%1 (GPU %2)").arg(o).arg(s.gpu_of(o));
            const std::int64_t bytes = (b.r1 - b.r0) * (b.c1 - b.c0) * e;
            tile->setToolTip(tr("%1: rows %2-%3, cols %4-%5 [%6 x %7], %8%9")
                                 .arg(owners.join(QStringLiteral(", ")))
                                 .arg(b.r0)
                                 .arg(b.r1)
                                 .arg(b.c0)
                                 .arg(b.c1)
                                 .arg(b.r1 - b.r0)
                                 .arg(b.c1 - b.c0)
                                 .arg(QString::fromStdString(format_bytes(double(bytes))))
                                 .arg(replicated_attention
                                          ? tr(", replicated on every tensor rank (attention data-parallel)")
                                          : QString()));
        }
        x += double(cols) * scale + 60;
    }
    y += 20 + 260 + 30;

    // Pipeline: which layers each stage holds.
    if (s.pp > 1) {
        label(m_scene, tr("Layers per pipeline stage"), 0, y);
        const auto split = s.resolved_stage_layers(m_model.layers);
        const double w = std::min(12.0, 900.0 / double(m_model.layers));
        int layer = 0;
        for (std::size_t stage = 0; stage < split.size(); ++stage)
            for (int i = 0; i < split[stage]; ++i, ++layer) {
                auto* item =
                    m_scene->addRect(layer * w, y + 20, w - 1, 18, Qt::NoPen, QBrush(rank_color(int(stage) + 8)));
                item->setData(kTagKey, QStringLiteral("stage"));
                item->setToolTip(tr("layer %1: stage %2").arg(layer).arg(stage));
            }
        y += 50;
    }
    // MoE: which GPU of a stage holds which routed expert.
    if (m_model.is_moe()) {
        const int experts = m_model.moe->experts;
        const int ep = s.ep;
        label(m_scene, tr("Routed experts of one MoE layer by expert-parallel rank (EP %1)").arg(ep), 0, y);
        const int experts_per_row = 32;
        for (int ex = 0; ex < experts; ++ex) {
            const int owner = ex / std::max(1, experts / ep);
            auto* item = m_scene->addRect((ex % experts_per_row) * 18, y + 20 + (ex / experts_per_row) * 18, 16, 16,
                                          Qt::NoPen, QBrush(rank_color(owner)));
            item->setData(kTagKey, QStringLiteral("expert"));
            item->setToolTip(tr("expert %1: EP rank %2").arg(ex).arg(owner));
        }
    }
    drawCollectives(m_scene->itemsBoundingRect().right() + 40);
    showFromTopLeft();
}

void LayoutView::showFromTopLeft()
{
    // A drawing larger than the view opens at its title and first node, not at its centre.
    m_scene->setSceneRect(m_scene->itemsBoundingRect().adjusted(-10, -10, 10, 10));
    m_view->horizontalScrollBar()->setValue(m_view->horizontalScrollBar()->minimum());
    m_view->verticalScrollBar()->setValue(m_view->verticalScrollBar()->minimum());
}

void LayoutView::drawCollectives(double x)
{
    // The collectives of one decode step, block by block in issue order, each with the GPUs
    // of its first group (the other groups are the same shape, shifted).
    const Strategy& s = m_candidate->strategy;
    const PhaseCost& phase = m_candidate->estimate.decode;
    label(m_scene, tr("Collectives of one decode step (predicted)"), x, 0, true);
    double y = 24;
    const int stage_size = s.devices() / std::max(1, s.pp);
    int listed = 0;
    for (const BlockCost& block : phase.blocks) {
        if (block.collectives.empty())
            continue;
        int repeat = 1;
        if (block.name == "dense layer" || block.name == "moe layer") {
            repeat = 0;
            for (int l = 0; l < m_model.layers; ++l)
                repeat += (m_model.is_moe_layer(l) == (block.name == "moe layer")) ? 1 : 0;
        } else if (block.name == "stage handoff") {
            repeat = s.pp - 1;
        }
        label(m_scene, tr("%1 (x%2 per step)").arg(QString::fromStdString(block.name)).arg(repeat), x, y, true);
        y += 18;
        for (const CollectiveCost& c : block.collectives) {
            std::vector<int> gpus;
            if (c.op == CollectiveKind::SendRecv)
                gpus = {s.gpu_of(0), s.gpu_of(stage_size)};
            else
                for (int m = 0; m < c.group; ++m)
                    gpus.push_back(s.gpu_of(m * c.stride));
            const int groups =
                c.op == CollectiveKind::SendRecv ? stage_size * (s.pp - 1) : s.devices() / std::max(1, c.group);
            const QString size =
                c.calls > 1 ? tr("%1 x %2").arg(c.calls).arg(QString::fromStdString(format_bytes(double(c.payload))))
                            : QString::fromStdString(format_bytes(double(c.payload)));
            const QString time = c.time_us >= 1000 ? tr("%1 ms").arg(c.time_us / 1000, 0, 'f', 2)
                                                   : tr("%1 µs").arg(c.time_us, 0, 'f', 1);
            const QString text = tr("%1 %2 · %3 of %4: GPUs %5%6 · %7 · %8%9")
                                     .arg(QString::fromStdString(to_string(c.op)), QString::fromStdString(c.name),
                                          QString::fromStdString(c.axis))
                                     .arg(c.group)
                                     .arg(QString::fromStdString(gpu_ranges(gpus)),
                                          groups > 1 ? tr(" (1 of %1)").arg(groups) : QString(), size, time,
                                          c.cross_node ? tr(" · crosses nodes") : QString());
            auto* item = label(m_scene, text, x + 12, y);
            item->setData(kTagKey, QStringLiteral("collective"));
            item->setToolTip(tr("%1 bytes per call (nccl-tests size), %2 sent per GPU over all calls, %3 GB/s busbw")
                                 .arg(c.payload)
                                 .arg(QString::fromStdString(format_bytes(double(c.traffic))))
                                 .arg(c.busbw_gbps, 0, 'f', 0));
            y += 18;
            ++listed;
        }
    }
    if (listed == 0)
        label(m_scene, tr("none: every GPU works alone"), x, y);
}

} // namespace shard::ui
