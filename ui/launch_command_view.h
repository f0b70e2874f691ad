#pragma once

#include "core/plan.h"

#include <QWidget>

#include <optional>

class QComboBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;

namespace shard::ui {

// The serving-engine command that starts the selected candidate (vLLM, SGLang or
// TensorRT-LLM), what it cannot reproduce, and a button that copies it.
class LaunchCommandView : public QWidget {
    Q_OBJECT

public:
    explicit LaunchCommandView(QWidget* parent = nullptr);

    void setPlan(const std::optional<Plan>& plan);
    bool selectEngine(const QString& engine); // "vllm", "sglang" or "trtllm"
    QString command() const; // empty when there is none to copy
    QString notes() const;
    void copyToClipboard() const;

private:
    void refresh();

    std::optional<Plan> m_plan;
    QComboBox* m_engine = nullptr;
    QPlainTextEdit* m_command = nullptr;
    QLabel* m_notes = nullptr;
    QPushButton* m_copy = nullptr;
};

} // namespace shard::ui
