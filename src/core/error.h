// Errors thrown inside the library. Every C entry point catches them (DESIGN rule 2).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace ponder {

// A failure caused by input (a file, a request, a user option): carries a full message with
// context (file, offset, tensor name, limit). Programmer errors use assert, never this.
class Error : public std::runtime_error {
  public:
    explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Concatenates its arguments with operator<< into one string.
template <typename... Args>
std::string cat(Args&&... args) {
    std::ostringstream os;
    (os << ... << std::forward<Args>(args));
    return os.str();
}

// Throws Error with the concatenation of the arguments.
template <typename... Args>
[[noreturn]] void fail(Args&&... args) {
    throw Error(cat(std::forward<Args>(args)...));
}

}  // namespace ponder
