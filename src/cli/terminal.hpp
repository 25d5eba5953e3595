// The terminal (issue 8): colour only when standard output is a terminal (and NO_COLOR is unset,
// TERM is not "dumb"); secrets read without echo from the terminal, or as one line from standard
// input when it is not a terminal (scripts). PINs never come from the command line.
#pragma once

#include <jpki/secure_bytes.hpp>

#include <string>
#include <string_view>

namespace jpki::cli {

enum class Colour { Red, Yellow, Green, Bold };

// `text` wrapped in the colour's escape sequence when standard output is a colour terminal,
// else `text` unchanged.
[[nodiscard]] std::string paint(Colour colour, std::string_view text);

[[nodiscard]] bool stdin_is_terminal();

// Reads one secret. On a terminal: `prompt` goes to the terminal (stderr), echo is off while the
// user types, and restored on every path (also on Ctrl-C, which then ends the program with exit
// code 130). Not a terminal: the next line of standard input, without its line end. At most 64
// bytes are kept (JPKI PINs are at most 16); the buffers are wiped. Throws CliError(Failure) when
// standard input ends before a line.
[[nodiscard]] SecureBytes read_secret(const std::string& prompt);

// Asks a yes/no question on the terminal; true only for an explicit yes ("yes", "y", "はい").
// When standard input is not a terminal, reads one line the same way (so tests can answer).
[[nodiscard]] bool confirm(const std::string& question);

}  // namespace jpki::cli
