// CPU thread set-up for libtorch training and evaluation. Header-only so that
// benchmarks linking only golfpack_model use the same set-up as the CLI.
//
// Debian's libtorch (1.13, BLAS_INFO=generic) runs its float32 GEMMs -- 55%
// of a demo-model training step -- through sgemm_ from libblas.so.3, which on a
// machine with libopenblas0-pthread is OpenBLAS with its own pthread pool.
// torch::set_num_threads() sizes only libtorch's OpenMP pool; it never tells
// OpenBLAS. So OpenBLAS's thread count came from OPENBLAS_NUM_THREADS, and
// with OPENBLAS_NUM_THREADS=1 every matmul ran on one core while the other
// idled. SetCpuThreads() sizes both pools from one number. On a machine that
// is already busy, fewer threads (--threads 1) waste less CPU: OpenBLAS's
// workers poll (sched_yield) between GEMMs.
#pragma once

#include <dlfcn.h>
#include <sched.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

namespace golfpack::train {

struct CpuThreads {
  int torch_threads = 0;   // libtorch intra-op (OpenMP) threads
  int blas_threads = -1;   // OpenBLAS threads; -1 = no OpenBLAS in this process
  std::string gemm_library;  // shared object that provides sgemm_ ("" if unknown)
  std::string blas_config;   // openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."
};

// CPUs this process may run on (affinity mask; honours taskset/cpusets).
inline int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Sets libtorch's intra-op threads to `threads` (0 = every available CPU;
// libtorch's own default is 1 on 2-vCPU VMs with Debian's build) and, when
// libtorch's BLAS is OpenBLAS, OpenBLAS's threads to `blas_threads`
// (0 = the same number; < 0 = leave them as OPENBLAS_NUM_THREADS set them).
inline CpuThreads SetCpuThreads(int threads, int blas_threads = 0) {
  const int n = threads > 0 ? threads : AvailableCpus();
  torch::set_num_threads(n);
  CpuThreads r;
  r.torch_threads = torch::get_num_threads();
  using SetFn = void (*)(int);
  using GetFn = int (*)();
  using ConfigFn = char* (*)();
  if (auto set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    if (blas_threads >= 0) set(blas_threads > 0 ? blas_threads : n);
    if (auto get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))) r.blas_threads = get();
    if (auto cfg = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
      if (const char* s = cfg()) r.blas_config = s;
    }
  }
  Dl_info info{};
  if (void* gemm = dlsym(RTLD_DEFAULT, "sgemm_"); gemm && dladdr(gemm, &info) && info.dli_fname) {
    // Resolve the alternatives symlinks (libblas.so.3 -> openblas-pthread/...).
    char* real = realpath(info.dli_fname, nullptr);
    r.gemm_library = real ? real : info.dli_fname;
    free(real);
  }
  return r;
}

// While alive, libtorch's intra-op threads and OpenBLAS's threads are 1;
// the destructor restores both counts. For code that runs one worker thread
// of its own per core, each doing single-threaded tensor operations
// (calibration batches, sensitivity probes). On 2 cores that cut `golfpack
// calibrate`'s CPU time by a quarter (107 s to 81 s on a 2.1M model) against
// splitting every operation over both cores, where OpenBLAS's idle worker
// spins in sched_yield between matrix products.
class SingleThreadedOps {
 public:
  SingleThreadedOps() : torch_threads_(torch::get_num_threads()) {
    torch::set_num_threads(1);
    using SetFn = void (*)(int);
    using GetFn = int (*)();
    set_blas_ = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    auto get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (set_blas_ && get) {
      blas_threads_ = get();
      set_blas_(1);
    }
  }
  ~SingleThreadedOps() {
    torch::set_num_threads(torch_threads_);
    if (set_blas_ && blas_threads_ > 0) set_blas_(blas_threads_);
  }
  SingleThreadedOps(const SingleThreadedOps&) = delete;
  SingleThreadedOps& operator=(const SingleThreadedOps&) = delete;

 private:
  int torch_threads_ = 1, blas_threads_ = -1;
  void (*set_blas_)(int) = nullptr;
};

}  // namespace golfpack::train
