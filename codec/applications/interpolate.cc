#include "codec/applications/interpolate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "format/prng.h"

namespace nifc {
namespace {

// Uniform in [0, range) without modulo bias (rejection of the top partial block).
uint64_t bounded(uint64_t* state, uint64_t range) {
  const uint64_t limit =
      std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % range;
  uint64_t r;
  do {
    r = splitmix64(state);
  } while (r >= limit);
  return r % range;
}

Status check_inputs(const Image& image, const std::vector<uint8_t>& known) {
  if (image.width == 0 || image.height == 0 || image.channels < 1 || image.channels > 4 ||
      image.samples.size() != image.pixel_count() * image.channels) {
    return invalid_argument("invalid image");
  }
  return check_mask(known, image.width, image.height, "the mask");
}

// For every pixel, the index (y * width + x) of its nearest known pixel:
// a column pass finds the nearest known row per column, then a row pass takes
// the lower envelope of the parabolas (x - x')^2 + dy(x')^2 (Felzenszwalb and
// Huttenlocher 2012), remembering which known pixel each parabola came from.
std::vector<uint32_t> nearest_known(uint32_t w, uint32_t h, const std::vector<uint8_t>& known) {
  constexpr uint32_t kNone = 0xFFFFFFFFu;
  std::vector<uint32_t> row(static_cast<size_t>(w) * h, kNone);  // nearest known row in column
  for (uint32_t x = 0; x < w; ++x) {
    uint32_t last = kNone;
    for (uint32_t y = 0; y < h; ++y) {
      if (known[static_cast<size_t>(y) * w + x]) last = y;
      row[static_cast<size_t>(y) * w + x] = last;
    }
    uint32_t next = kNone;
    for (uint32_t y = h; y-- > 0;) {
      const size_t i = static_cast<size_t>(y) * w + x;
      if (known[i]) next = y;
      // Ties keep the upper (smaller) row.
      if (next != kNone && (row[i] == kNone || next - y < y - row[i])) row[i] = next;
    }
  }
  std::vector<uint32_t> nearest(static_cast<size_t>(w) * h);
  std::vector<uint32_t> site(w);
  std::vector<double> f(w), z(w + 1);
  std::vector<uint32_t> v(w);
  for (uint32_t y = 0; y < h; ++y) {
    uint32_t sites = 0;
    for (uint32_t x = 0; x < w; ++x) {
      const uint32_t r = row[static_cast<size_t>(y) * w + x];
      if (r == kNone) continue;
      const double dy = static_cast<double>(r) - y;
      site[sites] = x;
      f[x] = dy * dy;
      ++sites;
    }
    // Lower envelope of the parabolas rooted at the sites (at least one:
    // the mask is not empty, so some column has a known pixel).
    int k = 0;
    v[0] = site[0];
    z[0] = -INFINITY;
    z[1] = INFINITY;
    for (uint32_t s = 1; s < sites; ++s) {
      const double q = site[s];
      double cut;
      // z[0] = -inf, so k never drops below 0.
      while (true) {
        const double p = v[k];
        cut = ((f[site[s]] + q * q) - (f[v[k]] + p * p)) / (2 * q - 2 * p);
        if (cut > z[k]) break;
        --k;
      }
      ++k;
      v[k] = site[s];
      z[k] = cut;
      z[k + 1] = INFINITY;
    }
    k = 0;
    for (uint32_t x = 0; x < w; ++x) {
      while (z[k + 1] < x) ++k;
      const uint32_t sx = v[k];
      nearest[static_cast<size_t>(y) * w + x] = row[static_cast<size_t>(y) * w + sx] * w + sx;
    }
  }
  return nearest;
}

// ---- Delaunay triangulation (Bowyer-Watson) on integer points ------------

struct Point {
  int64_t x, y;
};

// > 0 when a, b, c turn counter-clockwise (in a y-up frame; the sign
// convention only has to be consistent).
int64_t orient(const Point& a, const Point& b, const Point& c) {
  return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
}

// > 0 when d lies strictly inside the circumcircle of the positively
// oriented triangle a, b, c.  Exact: coordinates stay below 2^23, so every
// product fits in 128 bits.
bool in_circle(const Point& a, const Point& b, const Point& c, const Point& d) {
  const __int128 adx = a.x - d.x, ady = a.y - d.y;
  const __int128 bdx = b.x - d.x, bdy = b.y - d.y;
  const __int128 cdx = c.x - d.x, cdy = c.y - d.y;
  const __int128 det = (adx * adx + ady * ady) * (bdx * cdy - cdx * bdy) +
                       (bdx * bdx + bdy * bdy) * (cdx * ady - adx * cdy) +
                       (cdx * cdx + cdy * cdy) * (adx * bdy - bdx * ady);
  return det > 0;
}

struct Triangle {
  int v[3];  // positively oriented
  int n[3];  // n[i]: the triangle across the edge opposite v[i], or -1
  bool alive;
};

class Delaunay {
 public:
  // points[0..2] must be a positively oriented triangle containing all others.
  explicit Delaunay(std::vector<Point> points) : p_(std::move(points)) {
    tris_.push_back({{0, 1, 2}, {-1, -1, -1}, true});
    start_of_.assign(p_.size(), -1);
    end_of_.assign(p_.size(), -1);
  }

  void insert(int pi) {
    const Point& p = p_[pi];
    // Visibility walk from the last new triangle; terminates in a Delaunay
    // triangulation.  A point on an edge stays in the current triangle.
    int t = last_;
    for (bool moved = true; moved;) {
      moved = false;
      const Triangle& tr = tris_[t];
      for (int i = 0; i < 3; ++i) {
        if (orient(p_[tr.v[(i + 1) % 3]], p_[tr.v[(i + 2) % 3]], p) < 0 && tr.n[i] >= 0) {
          t = tr.n[i];
          moved = true;
          break;
        }
      }
    }
    // The cavity: every triangle whose circumcircle strictly contains p,
    // grown from t (it is connected).  t itself contains p, possibly on an edge.
    ++stamp_;
    bad_.clear();
    bad_.push_back(t);
    mark(t);
    for (size_t k = 0; k < bad_.size(); ++k) {
      const Triangle tr = tris_[bad_[k]];
      for (int i = 0; i < 3; ++i) {
        const int nb = tr.n[i];
        if (nb < 0 || marked(nb)) continue;
        const Triangle& o = tris_[nb];
        if (in_circle(p_[o.v[0]], p_[o.v[1]], p_[o.v[2]], p)) {
          bad_.push_back(nb);
          mark(nb);
        }
      }
    }
    // Fan the cavity's boundary edges (a, b) to p.
    fresh_.clear();
    for (int b : bad_) {
      const Triangle tr = tris_[b];
      for (int i = 0; i < 3; ++i) {
        const int nb = tr.n[i];
        if (nb >= 0 && marked(nb)) continue;
        const int a = tr.v[(i + 1) % 3], c = tr.v[(i + 2) % 3];
        const int nt = new_triangle({{pi, a, c}, {nb, -1, -1}, true});
        if (nb >= 0) {
          Triangle& o = tris_[nb];
          for (int j = 0; j < 3; ++j) {
            if (o.n[j] == b) o.n[j] = nt;
          }
        }
        start_of_[a] = nt;
        end_of_[c] = nt;
        fresh_.push_back(nt);
      }
    }
    for (int nt : fresh_) {
      Triangle& tr = tris_[nt];
      tr.n[1] = start_of_[tr.v[2]];  // across (c, p): the triangle whose edge starts at c
      tr.n[2] = end_of_[tr.v[1]];    // across (p, a): the triangle whose edge ends at a
    }
    for (int b : bad_) {
      tris_[b].alive = false;
      free_.push_back(b);
    }
    last_ = fresh_.front();
  }

  const std::vector<Triangle>& triangles() const { return tris_; }
  const std::vector<Point>& points() const { return p_; }

 private:
  int new_triangle(const Triangle& t) {
    // Slots freed by this insertion are still marked; reuse only older ones.
    while (!free_.empty()) {
      const int s = free_.back();
      if (marked(s)) break;
      free_.pop_back();
      tris_[s] = t;
      return s;
    }
    tris_.push_back(t);
    stamps_.push_back(0);
    return static_cast<int>(tris_.size()) - 1;
  }
  void mark(int t) {
    if (stamps_.size() < tris_.size()) stamps_.resize(tris_.size(), 0);
    stamps_[t] = stamp_;
  }
  bool marked(int t) const { return t < static_cast<int>(stamps_.size()) && stamps_[t] == stamp_; }

  std::vector<Point> p_;
  std::vector<Triangle> tris_;
  std::vector<uint64_t> stamps_;
  uint64_t stamp_ = 0;
  std::vector<int> bad_, fresh_, free_, start_of_, end_of_;
  int last_ = 0;
};

Image blank_like(const Image& image) {
  Image out;
  out.width = image.width;
  out.height = image.height;
  out.channels = image.channels;
  out.bit_depth = image.bit_depth;
  out.samples.assign(image.samples.size(), 0);
  return out;
}

}  // namespace

StatusOr<std::vector<uint8_t>> random_keep_mask(uint32_t width, uint32_t height, uint64_t count,
                                                uint64_t seed) {
  const uint64_t n = uint64_t{width} * height;
  if (count == 0 || count > n) {
    return invalid_argument("cannot keep " + std::to_string(count) + " pixels of " +
                            std::to_string(n) + " (1.." + std::to_string(n) + ")");
  }
  std::vector<uint32_t> order(n);
  for (uint64_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  uint64_t state = seed;
  std::vector<uint8_t> mask(n, 0);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t j = i + bounded(&state, n - i);
    std::swap(order[i], order[j]);
    mask[order[i]] = 1;
  }
  return mask;
}

std::vector<uint8_t> mask_from_image(const Image& m) {
  const uint32_t colours = m.channels >= 3 ? 3 : 1;
  std::vector<uint8_t> mask(m.pixel_count(), 0);
  for (size_t i = 0; i < mask.size(); ++i) {
    for (uint32_t c = 0; c < colours; ++c) {
      if (m.samples[i * m.channels + c] != 0) mask[i] = 1;
    }
  }
  return mask;
}

Status check_mask(const std::vector<uint8_t>& mask, uint32_t width, uint32_t height,
                  const char* what) {
  if (mask.size() != uint64_t{width} * height) {
    return invalid_argument(std::string(what) + " has " + std::to_string(mask.size()) +
                            " pixels, the image " + std::to_string(width) + "x" +
                            std::to_string(height));
  }
  if (count_set(mask) == 0) return invalid_argument(std::string(what) + " is empty (all zero)");
  return Status();
}

uint64_t count_set(const std::vector<uint8_t>& mask) {
  uint64_t n = 0;
  for (uint8_t m : mask) n += m != 0;
  return n;
}

StatusOr<Image> interpolate_nearest(const Image& image, const std::vector<uint8_t>& known) {
  NIFC_RETURN_IF_ERROR(check_inputs(image, known));
  const std::vector<uint32_t> nearest = nearest_known(image.width, image.height, known);
  Image out = blank_like(image);
  const uint32_t ch = image.channels;
  for (size_t i = 0; i < nearest.size(); ++i) {
    for (uint32_t c = 0; c < ch; ++c) out.samples[i * ch + c] = image.samples[nearest[i] * ch + c];
  }
  return out;
}

StatusOr<Image> interpolate_linear(const Image& image, const std::vector<uint8_t>& known) {
  NIFC_RETURN_IF_ERROR(check_inputs(image, known));
  const uint32_t w = image.width, h = image.height, ch = image.channels;
  // The fallback first: pixels that no triangle covers keep it.
  NIFC_ASSIGN_OR_RETURN(Image out, interpolate_nearest(image, known));

  // Known pixels in a snake order through horizontal bands about as tall as
  // their mean spacing, so that each walk starts next to its point.
  const uint64_t n = count_set(known);
  const int64_t band = std::max<int64_t>(
      1, std::llround(std::sqrt(static_cast<double>(w) * h / static_cast<double>(n))));
  std::vector<Point> pts;
  pts.reserve(n + 3);
  // A super-triangle far outside the image (W, H <= 2^16 < S).
  constexpr int64_t S = int64_t{1} << 20;
  pts.push_back({-S, -S});
  pts.push_back({4 * S, -S});
  pts.push_back({-S, 4 * S});
  for (uint32_t y = 0; y < h; ++y) {
    for (uint32_t x = 0; x < w; ++x) {
      if (known[static_cast<size_t>(y) * w + x]) pts.push_back({x, y});
    }
  }
  std::sort(pts.begin() + 3, pts.end(), [band](const Point& a, const Point& b) {
    const int64_t ba = a.y / band, bb = b.y / band;
    if (ba != bb) return ba < bb;
    return (ba % 2 == 0) ? a.x < b.x : a.x > b.x;
  });
  Delaunay dt(pts);
  for (size_t i = 3; i < pts.size(); ++i) dt.insert(static_cast<int>(i));

  // Rasterize each triangle of known pixels: a pixel centre inside it or on
  // its edges takes the barycentric mix (weights are exact integers).
  const double half = 0.5;
  for (const Triangle& t : dt.triangles()) {
    if (!t.alive || t.v[0] < 3 || t.v[1] < 3 || t.v[2] < 3) continue;
    const Point& a = pts[t.v[0]];
    const Point& b = pts[t.v[1]];
    const Point& c = pts[t.v[2]];
    const int64_t area = orient(a, b, c);
    if (area <= 0) continue;
    const size_t ia = static_cast<size_t>(a.y) * w + a.x;
    const size_t ib = static_cast<size_t>(b.y) * w + b.x;
    const size_t ic = static_cast<size_t>(c.y) * w + c.x;
    const int64_t x0 = std::min({a.x, b.x, c.x}), x1 = std::max({a.x, b.x, c.x});
    const int64_t y0 = std::min({a.y, b.y, c.y}), y1 = std::max({a.y, b.y, c.y});
    for (int64_t y = y0; y <= y1; ++y) {
      for (int64_t x = x0; x <= x1; ++x) {
        const Point q{x, y};
        const int64_t wa = orient(b, c, q), wb = orient(c, a, q), wc = orient(a, b, q);
        if (wa < 0 || wb < 0 || wc < 0) continue;
        const size_t i = static_cast<size_t>(y) * w + x;
        for (uint32_t k = 0; k < ch; ++k) {
          const double v = (static_cast<double>(wa) * image.samples[ia * ch + k] +
                            static_cast<double>(wb) * image.samples[ib * ch + k] +
                            static_cast<double>(wc) * image.samples[ic * ch + k]) /
                           static_cast<double>(area);
          out.samples[i * ch + k] = static_cast<uint16_t>(std::floor(v + half));
        }
      }
    }
  }
  return out;
}

double masked_psnr_db(const Image& a, const Image& b, const std::vector<uint8_t>& mask, bool set) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels ||
      a.bit_depth != b.bit_depth || a.samples.size() != b.samples.size() ||
      mask.size() != a.pixel_count()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  double se = 0.0;
  uint64_t count = 0;
  for (size_t i = 0; i < mask.size(); ++i) {
    if ((mask[i] != 0) != set) continue;
    for (uint32_t c = 0; c < a.channels; ++c) {
      const double d =
          static_cast<double>(a.samples[i * a.channels + c]) - b.samples[i * a.channels + c];
      se += d * d;
    }
    count += a.channels;
  }
  if (count == 0) return std::numeric_limits<double>::quiet_NaN();
  if (se == 0.0) return std::numeric_limits<double>::infinity();
  const double peak = a.max_value();
  return 10.0 * std::log10(peak * peak * static_cast<double>(count) / se);
}

}  // namespace nifc
