// Output files made safely (output_file.hpp).
#include "cli/output_file.hpp"

#include "cli/cli.hpp"
#include "cli/i18n.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace jpki::cli {

CliError write_error(const std::filesystem::path& output, int error) {
    return {ExitCode::Failure, msg(tr("Cannot write {}: {}"), output.string(), std::strerror(error))};
}

OutputFile::OutputFile(std::filesystem::path path, bool replace, std::string exists_message)
    : path_(std::move(path)), replace_(replace), exists_message_(std::move(exists_message)) {
    struct stat existing {};
    if (lstat(path_.c_str(), &existing) == 0) {
        if (S_ISDIR(existing.st_mode)) throw write_error(path_, EISDIR);
        if (!replace_) throw CliError(ExitCode::Failure, exists_message_);
    } else if (errno != ENOENT) {
        throw write_error(path_, errno);
    }
    const std::filesystem::path dir = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
    std::string name = (dir / ("." + path_.filename().string() + ".XXXXXX")).string();
    fd_ = mkostemp(name.data(), O_CLOEXEC);  // mode 0600
    if (fd_ < 0) throw write_error(path_, errno);
    temp_ = std::move(name);
}

OutputFile::~OutputFile() {
    if (fd_ >= 0) close(fd_);
    if (!temp_.empty()) unlink(temp_.c_str());
}

mode_t OutputFile::ordinary_mode() {
    const mode_t mask = umask(0);  // the only way to read it; set back at once
    umask(mask);
    return 0666 & ~mask;
}

void OutputFile::commit(crypto::ByteView data, mode_t mode) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = write(fd_, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw write_error(path_, n < 0 ? errno : EIO);
        done += static_cast<std::size_t>(n);
    }
    if (fchmod(fd_, mode) != 0 || fsync(fd_) != 0) throw write_error(path_, errno);
    const int closed = close(fd_);
    fd_ = -1;
    if (closed != 0) throw write_error(path_, errno);
    if (replace_) {
        if (rename(temp_.c_str(), path_.c_str()) != 0) throw write_error(path_, errno);
        temp_.clear();
        return;
    }
    if (link(temp_.c_str(), path_.c_str()) != 0) {
        if (errno == EEXIST) throw CliError(ExitCode::Failure, exists_message_);
        throw write_error(path_, errno);
    }
    // The temporary name is removed by the destructor; the output keeps the inode.
}

}  // namespace jpki::cli
