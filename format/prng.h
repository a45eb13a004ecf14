// The one pseudo-random generator of SPEC.md (§6.1, the Fourier matrix): splitmix64.
// Integer arithmetic only, so every platform reproduces its sequence exactly; tools that
// need a reproducible sequence (the inpainting masks) use it too.
#ifndef NIFC_FORMAT_PRNG_H_
#define NIFC_FORMAT_PRNG_H_

#include <cstdint>

namespace nifc {

// Advances *state by the golden-ratio increment and returns its mixed value.
inline uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace nifc

#endif  // NIFC_FORMAT_PRNG_H_
