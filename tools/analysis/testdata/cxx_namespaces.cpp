// Qualified names; functions in an anonymous namespace are static.
// FLAGS: -std=c++17
namespace net {
int send(int);
namespace detail {
int frame(int x) { return send(x); }
} // namespace detail
} // namespace net

namespace {
int local(int x) { return net::detail::frame(x); }
} // namespace

int api(int x) { return local(x); }
