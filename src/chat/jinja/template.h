// A parsed Jinja template, rendered as Python Jinja2 renders it under Hugging Face
// transformers' settings (trim_blocks, lstrip_blocks, loop controls, raise_exception,
// strftime_now, tojson without ASCII escaping).
#pragma once
#include <string>
#include <string_view>

#include "chat/jinja/ast.h"
#include "chat/jinja/interpreter.h"
#include "chat/jinja/value.h"

namespace ponder::jinja {

class Template {
  public:
    // Parses `source`; throws Error "<name>:<line>:<col>: syntax error: ..." on bad input.
    Template(std::string_view source, std::string name);

    // Renders with `globals` (a dict Value) as the template's variables. Throws Error
    // "<name>:<line>:<col>: <message>" for runtime errors (raise_exception gives
    // "TemplateError: <message>"). Thread-safe: the tree is never modified.
    std::string render(const Value& globals, const RenderOptions& opt = {}) const;

    const std::string& name() const { return name_; }

  private:
    std::string name_;
    Body body_;
};

}  // namespace ponder::jinja
