#pragma once

// Runs shardstudio-cli as a user would, for the suites that test it end to end.
#include <QByteArray>
#include <QJsonDocument>
#include <QProcess>
#include <QStringList>
#include <QTemporaryDir>

#include <functional>

namespace shard::test {

struct CliResult {
    int exitCode = -1; // -1: it crashed or did not finish
    QByteArray out;
    QByteArray err;
};

// Runs keep their results in $XDG_DATA_HOME/shardstudio/runs.db: point it at a scratch
// folder so the tests never touch the user's run history.
inline QProcessEnvironment scratchEnvironment()
{
    static QTemporaryDir data;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("XDG_DATA_HOME"), data.path());
    return env;
}

// `prepare` adjusts the process before it starts (where its output goes, say).
inline CliResult runCli(const QStringList& arguments, const std::function<void(QProcess&)>& prepare = {})
{
    QProcess process;
    process.setProcessEnvironment(scratchEnvironment());
    if (prepare)
        prepare(process);
    process.start(QStringLiteral(SHARD_BIN_DIR "/shardstudio-cli"), arguments);
    if (!process.waitForFinished(60'000))
        return {};
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1, process.readAllStandardOutput(),
            process.readAllStandardError()};
}

inline QJsonDocument jsonOf(const CliResult& r)
{
    QJsonParseError error{};
    const auto doc = QJsonDocument::fromJson(r.out, &error);
    return error.error == QJsonParseError::NoError ? doc : QJsonDocument();
}

} // namespace shard::test
