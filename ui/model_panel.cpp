#include "model_panel.h"
#include "spin_range.h"

#include "core/error.h"
#include "core/hf_import.h"
#include "core/presets.h"
#include "core/units.h"

#include <QComboBox>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QMimeData>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace shard::ui {

namespace {

// The drop-down's data for the entry of a model that is not a preset.
const QString kCustomModel = QStringLiteral(":not-a-preset"); // preset ids have no colon

QSpinBox* spin(IntRange range)
{
    auto* box = new QSpinBox;
    setRange(box, range);
    box->setKeyboardTracking(false); // one edit per committed value, not per keystroke
    return box;
}

} // namespace

ModelPanel::ModelPanel(QWidget* parent)
    : QWidget(parent)
{
    setAcceptDrops(true);
    auto* layout = new QVBoxLayout(this);
    auto* top = new QHBoxLayout;
    m_preset = new QComboBox;
    // Long names are elided in the box (the list shows them whole): the dock stays narrow.
    m_preset->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_preset->setMinimumContentsLength(18);
    m_preset->setObjectName(QStringLiteral("modelPreset"));
    for (const auto& m : PresetLibrary::instance().models())
        m_preset->addItem(QString::fromStdString(m.name), QString::fromStdString(m.id));
    auto* import = new QPushButton(tr("Import config.json…"));
    import->setObjectName(QStringLiteral("importConfig"));
    import->setToolTip(tr("A Hugging Face config.json (you can also drop one on this panel)"));
    top->addWidget(m_preset, 1);
    top->addWidget(import);
    layout->addLayout(top);
    m_source = new QLabel;
    m_source->setWordWrap(true);
    m_source->setStyleSheet(QStringLiteral("color: palette(mid);"));
    layout->addWidget(m_source);

    auto* form = new QFormLayout;
    m_layers = spin(limits::kLayers);
    m_hidden = spin(limits::kHidden);
    m_heads = spin(limits::kHeads);
    m_kvHeads = spin(limits::kHeads);
    m_headDim = spin(limits::kHeadDim);
    m_ffn = spin(limits::kFfn);
    m_vocab = spin(limits::kVocab);
    form->addRow(tr("Layers"), m_layers);
    form->addRow(tr("Hidden size"), m_hidden);
    form->addRow(tr("Attention heads"), m_heads);
    form->addRow(tr("KV heads"), m_kvHeads);
    form->addRow(tr("Head dim"), m_headDim);
    form->addRow(tr("FFN size"), m_ffn);
    form->addRow(tr("Vocabulary"), m_vocab);
    m_moe = new QLabel;
    form->addRow(tr("Experts"), m_moe);
    m_params = new QLabel;
    m_params->setObjectName(QStringLiteral("paramCount"));
    form->addRow(tr("Parameters"), m_params);
    m_kvPerToken = new QLabel;
    form->addRow(tr("KV cache"), m_kvPerToken);
    layout->addLayout(form);
    m_error = new QLabel;
    m_error->setObjectName(QStringLiteral("modelError"));
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #c0392b;"));
    m_error->hide();
    layout->addWidget(m_error);
    layout->addStretch(1);

    connect(m_preset, &QComboBox::currentIndexChanged, this, [this](int index) {
        if (m_updating || index < 0 || m_preset->itemData(index) == kCustomModel)
            return;
        setModel(PresetLibrary::instance().model(m_preset->itemData(index).toString().toStdString()));
    });
    connect(import, &QPushButton::clicked, this, &ModelPanel::chooseConfig);
    for (QSpinBox* box : {m_layers, m_hidden, m_heads, m_kvHeads, m_headDim, m_ffn, m_vocab})
        connect(box, &QSpinBox::valueChanged, this, &ModelPanel::fieldEdited);
}

void ModelPanel::setModel(const ModelSpec& model)
{
    m_model = model;
    showError({});
    refresh();
    emit modelChanged(m_model);
}

bool ModelPanel::selectPreset(const QString& id)
{
    const int index = m_preset->findData(id);
    if (index < 0)
        return false;
    if (index == m_preset->currentIndex())
        setModel(PresetLibrary::instance().model(id.toStdString()));
    else
        m_preset->setCurrentIndex(index);
    return true;
}

bool ModelPanel::importConfig(const QString& path)
{
    try {
        ModelSpec imported = import_hf_config_file(path.toStdString());
        setModel(imported);
        m_source->setText(tr("Imported from %1").arg(QFileInfo(path).fileName()));
        return true;
    } catch (const Error& e) {
        showError(tr("Could not import %1: %2").arg(QFileInfo(path).fileName(), QString::fromUtf8(e.what())));
        return false;
    }
}

QString ModelPanel::errorText() const
{
    return m_error->isVisible() || !m_error->text().isEmpty() ? m_error->text() : QString();
}

void ModelPanel::chooseConfig()
{
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Import a Hugging Face config.json"), {}, tr("Model configs (*.json)"));
    if (!path.isEmpty())
        importConfig(path);
}

void ModelPanel::dragEnterEvent(QDragEnterEvent* event)
{
    if (event->mimeData()->hasUrls())
        event->acceptProposedAction();
}

void ModelPanel::dropEvent(QDropEvent* event)
{
    const auto urls = event->mimeData()->urls();
    if (!urls.isEmpty() && urls.front().isLocalFile())
        importConfig(urls.front().toLocalFile());
}

void ModelPanel::fieldEdited()
{
    if (m_updating)
        return;
    ModelSpec edited = m_model;
    edited.layers = m_layers->value();
    edited.hidden = m_hidden->value();
    edited.heads = m_heads->value();
    edited.kv_heads = m_kvHeads->value();
    edited.head_dim = m_headDim->value();
    edited.ffn = m_ffn->value();
    edited.vocab = m_vocab->value();
    try {
        edited.validate();
    } catch (const Error& e) {
        showError(tr("Not applied: %1").arg(QString::fromUtf8(e.what())));
        return;
    }
    edited.name = m_model.name.rfind(" (edited)") == std::string::npos ? m_model.name + " (edited)" : m_model.name;
    m_model = edited;
    showError({});
    refresh();
    emit modelChanged(m_model);
}

void ModelPanel::refresh()
{
    m_updating = true;
    // The drop-down names the model shown: its preset, or (imported, edited, opened from a
    // plan) an entry of its own at the end, so it never names a preset that is not loaded.
    const QString name = QString::fromStdString(m_model.name);
    int index = m_preset->findData(QString::fromStdString(m_model.id));
    const bool preset = index >= 0 && m_preset->itemText(index) == name;
    int custom = m_preset->findData(kCustomModel);
    if (preset) {
        if (custom >= 0)
            m_preset->removeItem(custom);
        m_preset->setCurrentIndex(m_preset->findData(QString::fromStdString(m_model.id)));
    } else {
        if (custom < 0) {
            m_preset->addItem(name, kCustomModel);
            custom = m_preset->count() - 1;
        }
        m_preset->setItemText(custom, name);
        m_preset->setItemData(custom, tr("Not a preset: imported, edited or opened from a plan"), Qt::ToolTipRole);
        m_preset->setCurrentIndex(custom);
    }
    m_source->setText(QString::fromStdString(m_model.name + " (" + m_model.family + ")"));
    m_layers->setValue(m_model.layers);
    m_hidden->setValue(int(m_model.hidden));
    m_heads->setValue(m_model.heads);
    m_kvHeads->setValue(m_model.kv_heads);
    m_headDim->setValue(m_model.head_dim);
    m_ffn->setValue(int(m_model.ffn));
    m_vocab->setValue(int(m_model.vocab));
    m_moe->setText(m_model.is_moe()
                       ? tr("%1 routed, top-%2").arg(m_model.moe->experts).arg(m_model.moe->experts_per_token)
                       : tr("dense"));
    m_params->setText(tr("%1 total, %2 active per token")
                          .arg(QString::fromStdString(format_params(m_model.total_params())),
                               QString::fromStdString(format_params(m_model.active_params()))));
    m_kvPerToken->setText(tr("%1 per token (bf16)")
                              .arg(QString::fromStdString(format_bytes(double(m_model.kv_cache_bytes_per_token(2))))));
    m_updating = false;
}

void ModelPanel::showError(const QString& message)
{
    m_error->setText(message);
    m_error->setVisible(!message.isEmpty());
}

} // namespace shard::ui
