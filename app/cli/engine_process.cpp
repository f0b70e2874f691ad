#include "engine_process.h"

#include "core/error.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace shard::cli {

std::string find_engine()
{
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const auto beside = self.parent_path() / "shard-engine";
        if (std::filesystem::exists(beside))
            return beside.string();
    }
    if (const char* path = std::getenv("PATH")) {
        std::string dirs = path;
        std::size_t start = 0;
        while (start <= dirs.size()) {
            const std::size_t end = std::min(dirs.find(':', start), dirs.size());
            const auto candidate = std::filesystem::path(dirs.substr(start, end - start)) / "shard-engine";
            if (end > start && std::filesystem::exists(candidate))
                return candidate.string();
            start = end + 1;
        }
    }
    return {};
}

namespace {

// Hands the engine its standard input, then closes it. The engine reads it whole before it
// writes anything, so this cannot wait on a full stdout pipe; an engine that exited first
// (it could not start) reads nothing, which its exit code says, not a SIGPIPE here.
void write_input(int fd, const std::string& input)
{
    struct sigaction ignore { };
    struct sigaction previous { };
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, &previous);
    for (std::size_t done = 0; done < input.size();) {
        const ssize_t n = write(fd, input.data() + done, input.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += std::size_t(n);
    }
    close(fd);
    sigaction(SIGPIPE, &previous, nullptr);
}

} // namespace

int run_engine(const std::string& engine, const std::vector<std::string>& args, const std::string& input,
               const std::function<void(const std::string&)>& on_line, const std::function<bool()>& cancel_requested)
{
    int fds[2];
    int in_fds[2];
    if (pipe(fds) != 0 || pipe(in_fds) != 0)
        throw Error(std::string("cannot start shard-engine: ") + std::strerror(errno));
    const pid_t pid = fork();
    if (pid < 0)
        throw Error(std::string("cannot start shard-engine: ") + std::strerror(errno));
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(in_fds[0], STDIN_FILENO);
        setenv("SHARD_ENGINE_PARENT", "shardstudio-cli", 1);
        close(fds[0]);
        close(fds[1]);
        close(in_fds[0]);
        close(in_fds[1]);
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(engine.c_str()));
        for (const auto& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(engine.c_str(), argv.data());
        std::fprintf(stderr, "cannot run %s: %s\n", engine.c_str(), std::strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    close(in_fds[0]);
    write_input(in_fds[1], input);
    std::string pending;
    bool signalled = false;
    char buffer[65536];
    for (;;) {
        if (!signalled && cancel_requested && cancel_requested()) {
            kill(pid, SIGTERM);
            signalled = true;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int ready = poll(&p, 1, 100);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            continue;
        const ssize_t n = read(fds[0], buffer, sizeof(buffer));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        pending.append(buffer, std::size_t(n));
        for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
            on_line(pending.substr(0, eol));
            pending.erase(0, eol + 1);
        }
    }
    if (!pending.empty())
        on_line(pending);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

} // namespace shard::cli
