#include "chat/jinja/template.h"

#include "chat/jinja/parser.h"

namespace ponder::jinja {

Template::Template(std::string_view source, std::string name)
    : name_(std::move(name)), body_(parse_template(source, name_)) {}

std::string Template::render(const Value& globals, const RenderOptions& opt) const {
    Interpreter in(name_, opt, globals);
    return in.render(body_);
}

}  // namespace ponder::jinja
