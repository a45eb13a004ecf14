// This machine's multiply-add peak, measured: a register-only fused multiply-add loop of a
// given instruction set on N threads at once (the benchmarks' yardstick).
#ifndef NIFC_TOOLS_BENCH_PEAK_H_
#define NIFC_TOOLS_BENCH_PEAK_H_

#include "codec/decoder/kernels.h"

namespace nifc {

// Seconds of CPU time used by this process (all threads).
double cpu_seconds();

struct Peak {
  double gflops = 0;          // wall clock, best run
  double gflops_per_cpu = 0;  // per CPU-second (insensitive to other load)
};

// GFLOP/s of `threads` threads running the loop of `isa` at once, best of `runs`
// (a multiply and an add without FMA count as two flops).
Peak measure_peak(internal::Isa isa, int threads, int runs);

}  // namespace nifc

#endif  // NIFC_TOOLS_BENCH_PEAK_H_
