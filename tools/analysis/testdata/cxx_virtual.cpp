// Virtual calls name the method and the static class; the hierarchy and
// overrides are recorded. A call on a complete object is direct.
// FLAGS: -std=c++17
struct Shape {
  virtual ~Shape();
  virtual double area() const = 0;
  virtual void draw() const;
  void describe() const;
};
struct Circle : Shape {
  double area() const override;
  void draw() const override;
};
struct Ring final : Circle {
  double area() const override;
};

void Shape::describe() const {
  draw(); // through this: virtual
}

double total(const Shape &s, const Circle *c, Ring r) {
  double t = s.area(); // virtual, static class Shape
  t += c->area();      // virtual, static class Circle
  t += r.area();       // complete object: direct
  c->Shape::draw();    // qualified: direct
  return t;
}
