// SPEC.md §6.5: a binary range coder (the carry-propagating coder of LZMA) driven
// by adaptive probabilities, each the mean of a fast and a slow estimate, with
// contexts from the magnitudes of a level's already-coded neighbours.
#include "format/level_coder.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "format/nif_format.h"

namespace nifc {
namespace {

constexpr uint32_t kTop = 1u << 24;
constexpr int kSets = 17;          // 0: network tensors; 1 + k: grid level k
constexpr int kActivity = 11;      // activity classes
constexpr int kExponentBins = 15;  // e = floor(log2 |q|) <= 14 for |q| <= 32767
constexpr int kSignContexts = 9;   // the signs of the left and upper neighbours

// P(bit = 0) in 1/65536: the mean of two estimates that move by 1/16 and 1/128
// of the distance to the coded bit.
struct Prob {
  uint16_t fast = 32768, slow = 32768;
  uint32_t p0() const { return (uint32_t{fast} + slow) >> 1; }
  void update(int bit) {
    if (bit) {
      fast = static_cast<uint16_t>(fast - (fast >> 4));
      slow = static_cast<uint16_t>(slow - (slow >> 7));
    } else {
      fast = static_cast<uint16_t>(fast + ((65536u - fast) >> 4));
      slow = static_cast<uint16_t>(slow + ((65536u - slow) >> 7));
    }
  }
};

struct Contexts {
  Prob zero[kSets][kActivity];
  Prob sign[kSets][kSignContexts];
  Prob exponent[kSets][kActivity][kExponentBins];
  Prob mantissa[kSets][kExponentBins];
};

}  // namespace

int level_activity_class(uint32_t a) {
  if (a <= 6) return static_cast<int>(a);
  if (a <= 9) return 7;
  if (a <= 15) return 8;
  if (a <= 31) return 9;
  return 10;
}

int level_sign_class(int32_t q) { return q == 0 ? 0 : q > 0 ? 1 : 2; }

namespace {

// A level's contexts from its already-coded neighbours.
struct Neighbourhood {
  int activity;  // activity class, 0..kActivity-1
  int sign;      // 3 * sign_of(left) + sign_of(up), 0..8
};

// Walks the levels of one plane in raster order, calling visit(neighbourhood, &level)
// with each level's contexts, computed from the levels already visited.
template <typename Visit>
Status walk_plane(uint64_t rows, uint64_t cols, int32_t* plane, Visit visit) {
  for (uint64_t r = 0; r < rows; ++r) {
    int32_t* row = plane + r * cols;
    const int32_t* up = r > 0 ? row - cols : nullptr;
    for (uint64_t s = 0; s < cols; ++s) {
      const int32_t left = s > 0 ? row[s - 1] : 0;
      const int32_t above = up != nullptr ? up[s] : 0;
      uint32_t a = static_cast<uint32_t>(std::abs(left)) + static_cast<uint32_t>(std::abs(above));
      if (up != nullptr) {
        uint32_t diag = 0;
        if (s > 0) diag += static_cast<uint32_t>(std::abs(up[s - 1]));
        if (s + 1 < cols) diag += static_cast<uint32_t>(std::abs(up[s + 1]));
        a += diag >> 1;
      }
      const Neighbourhood n{level_activity_class(a),
                            3 * level_sign_class(left) + level_sign_class(above)};
      NIFC_RETURN_IF_ERROR(visit(n, &row[s]));
    }
  }
  return Status();
}

class RangeEncoder {
 public:
  void encode(Prob* p, int bit) {
    encode_with(p->p0(), bit);
    p->update(bit);
  }
  void encode_bypass(int bit) { encode_with(32768, bit); }
  std::vector<uint8_t> finish() {
    for (int i = 0; i < 5; ++i) shift_low();
    return std::move(out_);
  }

 private:
  void encode_with(uint32_t p0, int bit) {
    const uint32_t bound = (range_ >> 16) * p0;
    if (bit) {
      low_ += bound;
      range_ -= bound;
    } else {
      range_ = bound;
    }
    while (range_ < kTop) {
      range_ <<= 8;
      shift_low();
    }
  }
  void shift_low() {
    if (static_cast<uint32_t>(low_) < 0xFF000000u || (low_ >> 32) != 0) {
      const uint8_t carry = static_cast<uint8_t>(low_ >> 32);
      uint8_t byte = cache_;
      do {
        out_.push_back(static_cast<uint8_t>(byte + carry));
        byte = 0xFF;
      } while (--pending_ != 0);
      cache_ = static_cast<uint8_t>(low_ >> 24);
    }
    ++pending_;
    low_ = (low_ & 0x00FFFFFFu) << 8;
  }

  uint64_t low_ = 0;
  uint32_t range_ = 0xFFFFFFFFu;
  uint8_t cache_ = 0;
  uint64_t pending_ = 1;
  std::vector<uint8_t> out_;
};

class RangeDecoder {
 public:
  RangeDecoder(const uint8_t* data, size_t size) : data_(data), size_(size) {
    // The first byte is the encoder's initial cache, always 0 (checked by the caller).
    pos_ = 1;
    for (int i = 0; i < 4; ++i) code_ = (code_ << 8) | next();
  }
  int decode(Prob* p) {
    const int bit = decode_with(p->p0());
    p->update(bit);
    return bit;
  }
  int decode_bypass() { return decode_with(32768); }
  // True when the stream ended exactly where the coder stopped reading.
  bool at_end() const { return pos_ == size_; }

 private:
  int decode_with(uint32_t p0) {
    const uint32_t bound = (range_ >> 16) * p0;
    int bit;
    if (code_ < bound) {
      range_ = bound;
      bit = 0;
    } else {
      code_ -= bound;
      range_ -= bound;
      bit = 1;
    }
    while (range_ < kTop) {
      range_ <<= 8;
      code_ = (code_ << 8) | next();
    }
    return bit;
  }
  uint32_t next() {
    // Past the end reads 0 and leaves at_end() false for good.
    const uint32_t b = pos_ < size_ ? data_[pos_] : 0;
    if (pos_ <= size_) ++pos_;
    return b;
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  uint32_t code_ = 0;
  uint32_t range_ = 0xFFFFFFFFu;
};

void encode_level(RangeEncoder* rc, Contexts* cx, int set, const Neighbourhood& n, int32_t q) {
  const int act = n.activity;
  rc->encode(&cx->zero[set][act], q != 0);
  if (q == 0) return;
  rc->encode(&cx->sign[set][n.sign], q < 0);
  const uint32_t m = static_cast<uint32_t>(std::abs(q));
  int e = 0;
  while ((m >> (e + 1)) != 0) ++e;
  for (int j = 0; j <= e && j < kExponentBins - 1; ++j) {
    rc->encode(&cx->exponent[set][act][j], e > j);
  }
  if (e == 0) return;
  rc->encode(&cx->mantissa[set][e], (m >> (e - 1)) & 1);
  for (int b = e - 2; b >= 0; --b) rc->encode_bypass((m >> b) & 1);
}

}  // namespace

std::vector<LevelShape> level_shapes(const Architecture& arch, uint32_t channels) {
  const std::vector<uint64_t> sizes = tensor_sizes(arch, channels);
  const size_t network =
      sizes.size() - (arch.encoding == Encoding::kGrid ? arch.grid_levels.size() : 0);
  std::vector<LevelShape> shapes(sizes.size());
  for (size_t t = 0; t < sizes.size(); ++t) {
    if (t < network) {
      shapes[t].cols = sizes[t];
    } else {
      const GridLevel& g = arch.grid_levels[t - network];
      shapes[t].planes = arch.grid_channels;
      shapes[t].rows = g.height;
      shapes[t].cols = g.width;
      shapes[t].context_set = static_cast<uint32_t>(1 + t - network);
    }
  }
  return shapes;
}

std::vector<uint8_t> encode_levels(const std::vector<LevelShape>& shapes,
                                   const std::vector<const int32_t*>& levels) {
  RangeEncoder rc;
  auto cx = std::make_unique<Contexts>();
  for (size_t t = 0; t < shapes.size(); ++t) {
    const LevelShape& sh = shapes[t];
    const int set = static_cast<int>(sh.context_set);
    for (uint64_t p = 0; p < sh.planes; ++p) {
      // walk_plane wants a mutable plane; the encoder only reads it.
      int32_t* plane = const_cast<int32_t*>(levels[t]) + p * sh.rows * sh.cols;
      (void)walk_plane(sh.rows, sh.cols, plane, [&](const Neighbourhood& n, int32_t* q) {
        encode_level(&rc, cx.get(), set, n, *q);
        return Status();
      });
    }
  }
  return rc.finish();
}

Status decode_levels(const uint8_t* data, size_t size, const std::vector<LevelShape>& shapes,
                     int32_t limit, std::vector<std::vector<int32_t>>* out) {
  if (size < 5 || data[0] != 0) return corrupt("weight stream too short or bad first byte");
  RangeDecoder rc(data, size);
  auto cx = std::make_unique<Contexts>();
  out->resize(shapes.size());
  for (size_t t = 0; t < shapes.size(); ++t) {
    const LevelShape& sh = shapes[t];
    const int set = static_cast<int>(sh.context_set);
    std::vector<int32_t>& v = (*out)[t];
    v.assign(sh.planes * sh.rows * sh.cols, 0);
    for (uint64_t p = 0; p < sh.planes; ++p) {
      NIFC_RETURN_IF_ERROR(
          walk_plane(sh.rows, sh.cols, v.data() + p * sh.rows * sh.cols,
                     [&](const Neighbourhood& n, int32_t* q) {
                       const int act = n.activity;
                       if (!rc.decode(&cx->zero[set][act])) return Status();
                       const bool negative = rc.decode(&cx->sign[set][n.sign]);
                       int e = 0;
                       while (e < kExponentBins - 1 && rc.decode(&cx->exponent[set][act][e])) ++e;
                       uint32_t m = 1;
                       if (e > 0) {
                         m = (m << 1) | static_cast<uint32_t>(rc.decode(&cx->mantissa[set][e]));
                         for (int b = e - 2; b >= 0; --b)
                           m = (m << 1) | static_cast<uint32_t>(rc.decode_bypass());
                       }
                       if (m > static_cast<uint32_t>(limit))
                         return corrupt("quantized weight out of range");
                       *q = negative ? -static_cast<int32_t>(m) : static_cast<int32_t>(m);
                       return Status();
                     }));
    }
  }
  if (!rc.at_end()) return corrupt("weight stream length does not match its content");
  return Status();
}

}  // namespace nifc
