// A benign C++ program: virtual calls, exceptions unwinding several frames,
// a lambda, a std::vector, a static global with a constructor.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>
#include <unistd.h>

struct Shape {
	virtual ~Shape() {}
	virtual int area() const = 0;
};
struct Square : Shape {
	int s;
	explicit Square(int s) : s(s) {}
	int area() const override { return s * s; }
};
struct Rect : Shape {
	int w, h;
	Rect(int w, int h) : w(w), h(h) {}
	int area() const override { return w * h; }
};

static int check(int v) {
	if (v > 50)
		throw std::runtime_error("too big");
	return v;
}
static int deep(int v, int d) { return d == 0 ? check(v) : deep(v, d - 1); }

struct Logger {
	Logger() { log("start"); }
	void log(const char *m) {
		char buf[64];
		int n = snprintf(buf, sizeof buf, "log: %s\n", m);
		if (n > 0)
			write(1, buf, n);
	}
};
static Logger logger;

int main() {
	std::vector<Shape *> shapes{new Square(3), new Rect(4, 5), new Square(8)};
	int total = 0;
	for (Shape *s : shapes) {
		try {
			total += deep(s->area(), 3);
		} catch (const std::exception &e) {
			logger.log(e.what());
		}
	}
	auto report = [&](const char *what) { logger.log(what); };
	report(total > 0 ? "total ok" : "total zero");
	for (Shape *s : shapes)
		delete s;
	std::printf("total %d\n", total);
	return 0;
}
