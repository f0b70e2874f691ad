#pragma once

#include "core/model_spec.h"

#include <QWidget>

class QComboBox;
class QLabel;
class QSpinBox;

namespace shard::ui {

// The model: a preset, or a Hugging Face config.json (file dialog or drag-and-drop), with
// its shape editable. Every valid edit emits modelChanged; an invalid one is named under
// the fields and the current model stays.
class ModelPanel : public QWidget {
    Q_OBJECT

public:
    explicit ModelPanel(QWidget* parent = nullptr);

    const ModelSpec& model() const { return m_model; }
    void setModel(const ModelSpec& model);
    bool selectPreset(const QString& id);
    // Imports a config.json; on failure the error is shown and the model kept. Returns success.
    bool importConfig(const QString& path);
    QString errorText() const;

signals:
    void modelChanged(const shard::ModelSpec& model);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void chooseConfig();
    void fieldEdited();
    void refresh();
    void showError(const QString& message);

    ModelSpec m_model;
    bool m_updating = false;
    QComboBox* m_preset = nullptr;
    QLabel* m_source = nullptr;
    QSpinBox* m_layers = nullptr;
    QSpinBox* m_hidden = nullptr;
    QSpinBox* m_heads = nullptr;
    QSpinBox* m_kvHeads = nullptr;
    QSpinBox* m_headDim = nullptr;
    QSpinBox* m_ffn = nullptr;
    QSpinBox* m_vocab = nullptr;
    QLabel* m_moe = nullptr;
    QLabel* m_params = nullptr;
    QLabel* m_kvPerToken = nullptr;
    QLabel* m_error = nullptr;
};

} // namespace shard::ui
