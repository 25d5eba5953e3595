// The files `jpki sign` and `jpki cert export -o` write (issue 8): made so that nothing is lost
// and nothing is written through someone else's name.
// - Prepared before the card is touched: the temporary file is created in the target folder
//   first, so a missing folder, a folder without write permission or a directory named as the
//   output fail before any PIN is asked for (a PIN try is never spent on a file that cannot be
//   written).
// - Never half-written, never through a symbolic link: the content goes to the temporary file,
//   which then becomes the output by link() (no --force: fails if the name appeared meanwhile)
//   or rename() (--force: replaces the name itself, a symbolic link included, atomically).
// Layer: cli/.
#pragma once

#include "cli/cli.hpp"
#include "crypto/bytes.hpp"

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace jpki::cli {

// "Cannot write FILE: reason" (translated frame; the reason is strerror(error)), exit code 1.
[[nodiscard]] CliError write_error(const std::filesystem::path& output, int error);

class OutputFile {
public:
    // Checks `path` and creates the temporary file next to it (mode 0600 until commit()).
    // Throws CliError(Failure): `exists_message` when `path` exists (any kind of file, a dangling
    // symbolic link too) and `replace` is false; write_error() when it is a directory, cannot be
    // looked at (name too long, symbolic link loop, permission) or the temporary file cannot be
    // created.
    OutputFile(std::filesystem::path path, bool replace, std::string exists_message);
    ~OutputFile();  // removes the temporary file unless it became the output
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;
    OutputFile(OutputFile&&) = delete;
    OutputFile& operator=(OutputFile&&) = delete;

    // Writes `data`, sets `mode` (exactly: the caller applies the umask when it wants it), syncs,
    // and makes the file the output. Throws CliError as the constructor does. Once only.
    void commit(crypto::ByteView data, mode_t mode);

    // 0666 without the process's umask: the mode an ordinary new file would get.
    [[nodiscard]] static mode_t ordinary_mode();

private:
    std::filesystem::path path_;
    bool replace_;
    std::string exists_message_;
    int fd_ = -1;
    std::string temp_;
};

}  // namespace jpki::cli
