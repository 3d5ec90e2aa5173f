// A `.json` policy file becomes the same PNode tree a YAML file does, parsed as JSON.
//
// Why not libyaml (JSON is nearly YAML)? libyaml refuses characters outside YAML's printable set
// (a raw DEL, the C1 controls) even inside a quoted string, where JSON allows them, so a valid
// JSON policy could fail to load. nlohmann-json's SAX parser reads JSON exactly; positions come
// from a counting iterator that sees each byte once as the parser's lexer reads it.
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "governance/policy/pnode.hpp"
#include "governance/policy/yaml_load.hpp"

namespace gt::gov::policy {

namespace {

// Follows the bytes the lexer reads and remembers where the current token started: the opening
// quote of a string, the `{`/`[` of a container, the first byte of a number or literal. The SAX
// callbacks come right after their token is read (a number's one byte of lookahead is a
// delimiter, never the start of a token), so these are the tokens' starts.
struct Tracker {
  const char* data = nullptr;
  size_t pos = 0;  // the next byte to read
  int line = 0;    // of the next byte, 0-based
  int column = 0;  // UTF-8 characters before the next byte on its line
  bool in_string = false, escaped = false, in_scalar = false;
  PNode::Mark string_start, open_start, scalar_start;
  PNode::Mark token_start;  // of the last token of any kind (`,` `:` `}` `]` too)

  void consume() {
    const auto c = static_cast<unsigned char>(data[pos]);
    PNode::Mark here{static_cast<int>(pos), line, column};
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      string_start = token_start = here;
      in_scalar = false;
    } else if (c == '{' || c == '[') {
      open_start = token_start = here;
      in_scalar = false;
    } else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '-' || c == '+' || c == '.') {
      if (!in_scalar) scalar_start = token_start = here;
      in_scalar = true;
    } else {
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') token_start = here;
      in_scalar = false;
    }
    ++pos;
    if (c == '\n') {
      ++line;
      column = 0;
    } else if ((c & 0xC0) != 0x80) {  // a continuation byte is part of the same character
      ++column;
    }
  }
};

// The iterator nlohmann's input adapter reads through: advancing it feeds the tracker.
class CountingIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator(Tracker* t, size_t pos) : t_(t), pos_(pos) {}
  reference operator*() const { return t_->data[pos_]; }
  CountingIterator& operator++() {
    t_->consume();
    ++pos_;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const CountingIterator& o) const { return pos_ == o.pos_; }
  bool operator!=(const CountingIterator& o) const { return pos_ != o.pos_; }

 private:
  Tracker* t_;
  size_t pos_;
};

// Line and column (1-based, columns in UTF-8 characters) of byte `offset`.
void locate(const std::string& text, size_t offset, long& line, long& column) {
  line = 1;
  column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column;
    }
  }
}

}  // namespace

struct PNodeJsonBuilder : nlohmann::json_sax<nlohmann::json> {
  struct Frame {
    PNode* node = nullptr;
    bool have_key = false;
    PNode key;
  };

  PNodeJsonBuilder(const std::string& text, PNode& out, PNodeError& err, const YamlLimits& lim)
      : text_(text), out_(out), err_(err), budget_(lim) {
    tracker_.data = text.data();
  }

  bool run() {
    CountingIterator first(&tracker_, 0), last(&tracker_, text_.size());
    bool ok = false;
    try {
      ok = nlohmann::json::sax_parse(first, last, this);
    } catch (const std::exception& e) {  // nlohmann reports through parse_error; just in case
      if (err_.message.empty()) err_.message = e.what();
      ok = false;
    }
    if (!ok && err_.message.empty()) err_.message = "invalid json";
    return ok;
  }

  bool null() override {
    PNode n;
    n.kind_ = PNode::Kind::Null;
    n.s_ = "null";
    return scalar(std::move(n), tracker_.scalar_start);
  }
  bool boolean(bool v) override { return plain(v ? "true" : "false"); }
  bool number_integer(number_integer_t) override { return plain(number_text()); }
  bool number_unsigned(number_unsigned_t) override { return plain(number_text()); }
  bool number_float(number_float_t, const string_t& text) override { return plain(text); }
  bool string(string_t& v) override { return quoted(v); }
  bool binary(binary_t&) override {  // never produced by the JSON parser
    return fail(tracker_.scalar_start, "binary values are not supported");
  }
  bool key(string_t& v) override { return quoted(v); }

  bool start_object(std::size_t) override { return open(PNode::Kind::Map); }
  bool start_array(std::size_t) override { return open(PNode::Kind::Sequence); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    std::string msg = ex.what();
    // `position` counts the bytes read, the offending one last (one past the end at EOF). A
    // malformed token ("...; last read: '...'") is pointed at that byte, a well-formed token
    // in the wrong place ("unexpected ...") at its start.
    if (msg.find("; last read: ") != std::string::npos ||
        msg.find("unexpected end of input") != std::string::npos) {
      locate(text_, position > 0 ? position - 1 : 0, err_.line, err_.column);
    } else {
      err_.line = tracker_.token_start.line + 1;
      err_.column = tracker_.token_start.column + 1;
    }
    // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..."
    // carries nlohmann's own position (bytes, not characters); ours is in err_.
    auto colon = msg.find(": ");
    if (msg.rfind("[json.exception.", 0) == 0 && colon != std::string::npos) {
      msg = msg.substr(colon + 2);
    }
    err_.message = std::move(msg);
    return false;
  }

 private:
  bool fail(const PNode::Mark& m, std::string msg) {
    err_.line = m.line + 1;
    err_.column = m.column + 1;
    err_.message = std::move(msg);
    return false;
  }

  // A number as written (`-0` stays `-0`, as in YAML): its token from where it started.
  std::string number_text() const {
    size_t b = static_cast<size_t>(tracker_.scalar_start.pos), e = b;
    while (e < text_.size() && std::strchr("0123456789+-.eE", text_[e]) && text_[e] != '\0')
      ++e;
    return text_.substr(b, e - b);
  }

  bool plain(std::string text) {
    PNode n;
    n.kind_ = PNode::Kind::Scalar;
    n.s_ = std::move(text);
    return scalar(std::move(n), tracker_.scalar_start);
  }

  bool quoted(std::string& text) {
    PNode n;
    n.kind_ = PNode::Kind::Scalar;
    n.quoted_ = true;
    n.s_ = std::move(text);
    return scalar(std::move(n), tracker_.string_start);
  }

  bool scalar(PNode&& n, const PNode::Mark& m) {
    if (!budget_.scalar(n.s_.size(), nullptr, berr_)) return fail(m, berr_.message);
    n.mark_ = m;
    PNode* where = nullptr;
    return place(std::move(n), &where);
  }

  // Places a value (a key when a map waits for one); `where` is where it now lives.
  bool place(PNode&& value, PNode** where) {
    if (stack_.empty()) {
      out_ = std::move(value);
      *where = &out_;
      return true;
    }
    Frame& top = stack_.back();
    if (top.node->kind_ == PNode::Kind::Sequence) {
      top.node->v_.push_back(std::move(value));
      *where = &top.node->v_.back();
      return true;
    }
    if (!top.have_key) {  // the JSON grammar makes this a string
      top.key = std::move(value);
      top.have_key = true;
      *where = nullptr;
      return true;
    }
    top.node->v_.push_back(std::move(top.key));
    top.node->v_.push_back(std::move(value));
    top.have_key = false;
    top.key = PNode();
    *where = &top.node->v_.back();
    return true;
  }

  bool open(PNode::Kind kind) {
    const PNode::Mark m = tracker_.open_start;
    if (!budget_.open(nullptr, berr_)) return fail(m, berr_.message);
    PNode n;
    n.make_container(kind);
    n.mark_ = m;
    PNode* where = nullptr;
    if (!place(std::move(n), &where) || !where) return fail(m, "a container cannot be a key");
    Frame f;
    f.node = where;
    stack_.push_back(std::move(f));
    return true;
  }

  bool close() {
    if (stack_.empty()) return true;
    budget_.close();
    PNode* node = stack_.back().node;
    stack_.pop_back();
    node->v_.shrink_to_fit();
    if (node->kind_ == PNode::Kind::Map) {
      if (const PNode* dup = PNode::duplicate_key(*node)) {
        return fail(dup->mark_, "duplicate key `" + dup->s_ + "`");
      }
    }
    return true;
  }

  const std::string& text_;
  PNode& out_;
  PNodeError& err_;
  YamlBudget budget_;
  YamlError berr_;
  Tracker tracker_;
  std::vector<Frame> stack_;
};

bool parse_pnode_json(const std::string& text, PNode& out, PNodeError& err,
                      const YamlLimits& limits) {
  out = PNode();
  err = PNodeError{};
  if (text.size() > limits.max_bytes) {
    err.message = "the document is " + std::to_string(text.size()) + " bytes, over the limit of " +
                  std::to_string(limits.max_bytes) + " bytes";
    return false;
  }
  PNodeJsonBuilder b(text, out, err, limits);
  return b.run();
}

}  // namespace gt::gov::policy
