// shardstudio: the studio. `shardstudio [PLAN]` opens a *.shardplan.json; without one the
// default model and topology. `--smoke-test MS` shows the window, waits for the first
// planning (at most MS ms) and exits 0 if candidates were shown (the package test uses it).
#include "ui/main_window.h"

#include "shard/version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QTimer>

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("ShardStudio"));
    QApplication::setApplicationName(QStringLiteral("ShardStudio"));
    QApplication::setApplicationVersion(QString::fromLatin1(shard::kVersion));
    QApplication::setWindowIcon(QIcon::fromTheme(QStringLiteral("shardstudio")));
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Plan, run and compare tensor-parallel shard layouts of LLMs over GPUs"));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("plan"), QStringLiteral("A *.shardplan.json to open"),
                                 QStringLiteral("[plan]"));
    QCommandLineOption smoke(QStringLiteral("smoke-test"),
                             QStringLiteral("Show the window, plan, exit (ms to wait at most)"), QStringLiteral("ms"));
    parser.addOption(smoke);
    parser.process(app);

    shard::ui::MainWindow window;
    if (!parser.positionalArguments().isEmpty() && !window.openPlan(parser.positionalArguments().front()))
        return 1;
    window.show();
    if (parser.isSet(smoke)) {
        QObject::connect(&window, &shard::ui::MainWindow::candidatesShown, &app,
                         [&app](int candidates) { app.exit(candidates > 0 ? 0 : 1); });
        QTimer::singleShot(parser.value(smoke).toInt(), &app, [&app] { app.exit(2); });
    }
    return app.exec();
}
