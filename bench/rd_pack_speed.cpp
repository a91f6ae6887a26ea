// Planning speed of the `rd` recipe (what `golfpack pack -r rd` runs) on the
// 17M Parameter Golf shape: 9 layers, dim 512, 8 heads / 4 KV heads, MLP 2x,
// vocab 1024, tied embedding (17,059,912 params). Weights are random with a
// realistic spread (per-row scale spread, a few outliers); every Hessian is
// H = X^T X of random correlated activations X. Standalone: no benchmark
// library, never part of ctest. Prints a table of phase timings and the total.
//
//   rd_pack_speed [--budget BYTES] [--threads N] [--layers L] [--recipe rd|rd:all|rd:PATHS]
//
// --recipe names the paths as `pack -r` does (default rd: grid and rowalloc).
//
// Phase boundaries come from PackRd's progress callbacks (stage names), so the
// table reads the same for any version of PackRd: "ladder" ends with the last
// "candidates" event, "gptq" with the last "gptq" event, and "rest" (allocation,
// fine fill, assembly) runs from there to the end. PackRd's own phase timings
// (RdResult::timings) follow.
#include <Eigen/Dense>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include "plan/pack.h"
#include "plan/rd.h"
#include "io/safetensors.h"

namespace {

using namespace golfpack;

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
using Clock = std::chrono::steady_clock;

struct Shape {
  int layers = 9, dim = 512, heads = 8, kv_heads = 4, mlp_mult = 2, vocab = 1024;
};

// Gaussian weights, std `sd` spread per row (log-normal row scale), with 0.2%
// of entries as 6-sigma-ish outliers.
std::vector<float> Weights(size_t rows, size_t cols, float sd, std::mt19937_64& rng) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::lognormal_distribution<float> row_scale(0.f, 0.3f);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> v(rows * cols);
  for (size_t r = 0; r < rows; ++r) {
    const float s = sd * row_scale(rng);
    for (size_t c = 0; c < cols; ++c) {
      float x = nd(rng) * s;
      if (u(rng) < 0.002f) x *= 6.f;
      v[r * cols + c] = x;
    }
  }
  return v;
}

io::TensorFile Model(const Shape& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  io::TensorFile f;
  const size_t d = static_cast<size_t>(s.dim), kv = d / static_cast<size_t>(s.heads) * static_cast<size_t>(s.kv_heads);
  const size_t hidden = d * static_cast<size_t>(s.mlp_mult);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, std::vector<float> v) {
    f.tensors.push_back(io::Tensor::FromFloat32(name, shape, std::move(v)));
  };
  add("tok_emb.weight", {s.vocab, s.dim}, Weights(static_cast<size_t>(s.vocab), d, 0.05f, rng));
  for (int l = 0; l < s.layers; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    add(b + "attn.c_q.weight", {s.dim, s.dim}, Weights(d, d, 0.04f, rng));
    add(b + "attn.c_k.weight", {static_cast<int64_t>(kv), s.dim}, Weights(kv, d, 0.04f, rng));
    add(b + "attn.c_v.weight", {static_cast<int64_t>(kv), s.dim}, Weights(kv, d, 0.04f, rng));
    add(b + "attn.proj.weight", {s.dim, s.dim}, Weights(d, d, 0.03f, rng));
    add(b + "attn.q_gain", {s.heads}, std::vector<float>(static_cast<size_t>(s.heads), 1.5f));
    add(b + "mlp.fc.weight", {static_cast<int64_t>(hidden), s.dim}, Weights(hidden, d, 0.04f, rng));
    add(b + "mlp.proj.weight", {s.dim, static_cast<int64_t>(hidden)}, Weights(d, hidden, 0.02f, rng));
    add(b + "attn_scale", {s.dim}, std::vector<float>(d, 1.f));
    add(b + "mlp_scale", {s.dim}, std::vector<float>(d, 1.f));
    std::vector<float> mix(2 * d, 0.f);
    for (size_t i = 0; i < d; ++i) mix[i] = 1.f;
    add(b + "resid_mix", {2, s.dim}, mix);
  }
  add("skip_weights", {s.layers / 2, s.dim}, std::vector<float>(static_cast<size_t>(s.layers / 2) * d, 1.f));
  return f;
}

// H = X^T X for X = G * M: G Gaussian [n x d], M a random mixing matrix with
// decaying column scales, so H is correlated and ill-conditioned like real
// activations.
std::vector<float> Hessian(size_t d, size_t n, std::mt19937_64& rng) {
  std::normal_distribution<double> nd(0.0, 1.0);
  Eigen::MatrixXd g(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(d));
  for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = nd(rng);
  Eigen::MatrixXd m(static_cast<Eigen::Index>(d), static_cast<Eigen::Index>(d));
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = nd(rng) * 0.1;
  for (Eigen::Index j = 0; j < m.cols(); ++j) {
    m(j, j) += 1.0;
    m.col(j) *= std::pow(1.0 + double(j), -0.5);
  }
  const Eigen::MatrixXd x = g * m;
  const Eigen::MatrixXd h = x.transpose() * x;
  std::vector<float> v(d * d);
  for (size_t r = 0; r < d; ++r)
    for (size_t c = 0; c < d; ++c) v[r * d + c] = static_cast<float>(h(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)));
  return v;
}

Result<encode::Hessians> Calibration(const Shape& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  io::TensorFile cal;
  const size_t d = static_cast<size_t>(s.dim), hidden = d * static_cast<size_t>(s.mlp_mult), n = 1024;
  auto add = [&](const std::string& site, size_t dim) {
    cal.tensors.push_back(io::Tensor::FromFloat32(site, {static_cast<int64_t>(dim), static_cast<int64_t>(dim)},
                                                  Hessian(dim, n, rng)));
  };
  add("head_in", d);
  for (int l = 0; l < s.layers; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    add(b + "attn_in", d);
    add(b + "attn.proj_in", d);
    add(b + "mlp_in", d);
    add(b + "mlp.proj_in", hidden);
  }
  cal.metadata = {{"golfpack.calibration", "hessian-v1"}, {"golfpack.tokens", std::to_string(n)}, {"golfpack.seq_len", "1024"}};
  const std::string path =
      (std::filesystem::temp_directory_path() / ("rd_pack_speed_calib_" + std::to_string(::getpid()) + ".safetensors")).string();
  GP_RETURN_IF_ERROR(io::WriteSafetensors(path, cal));
  auto h = encode::Hessians::Load(path);
  std::filesystem::remove(path);
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  Shape shape;
  uint64_t budget = 16'000'000;
  int threads = 0;
  std::string recipe = "rd";  // a factory string: rd (the default paths), rd:all, rd:grid,lqer
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--budget")) budget = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--recipe")) recipe = argv[i + 1];
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--layers")) shape.layers = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: rd_pack_speed [--budget BYTES] [--threads N] [--layers L] [--recipe rd|rd:all|rd:PATHS]\n");
      return 2;
    }
  }
  const auto model = Model(shape, 1);
  uint64_t params = 0;
  for (const auto& t : model.tensors) params += static_cast<uint64_t>(t.numel());
  auto h = Calibration(shape, 2);
  if (!h.ok()) {
    std::fprintf(stderr, "calibration: %s\n", h.status().ToString().c_str());
    return 1;
  }

  auto rec = encode::FindRecipe(recipe);
  if (!rec.ok() || !rec->rules.empty()) {
    std::fprintf(stderr, "--recipe %s: not an rd recipe\n", recipe.c_str());
    return 2;
  }
  encode::RdOptions o;
  o.paths = rec->rd_paths;
  o.budget = budget;
  o.threads = threads;
  std::mutex mu;
  std::map<std::string, double> last;  // stage -> seconds of its last event
  Clock::time_point t0;
  o.progress = [&](const auto& p) {
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    std::lock_guard<std::mutex> lock(mu);
    last[std::string(p.stage)] = t;
  };
  const double cpu0 = CpuSeconds();
  t0 = Clock::now();
  auto r = encode::PackRd(model, *h, o);
  const double total = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = CpuSeconds() - cpu0;
  if (!r.ok()) {
    std::fprintf(stderr, "PackRd: %s\n", r.status().ToString().c_str());
    return 1;
  }
  const double ladder = last.count("candidates") ? last["candidates"] : 0;
  const double gptq_end = last.count("gptq") ? last["gptq"] : ladder;

  std::printf("rd_pack_speed: -r %s, %llu params (%d layers, dim %d, %d/%d heads, MLP %dx, vocab %d), %u threads\n",
              recipe.c_str(), (unsigned long long)params, shape.layers, shape.dim, shape.heads, shape.kv_heads, shape.mlp_mult, shape.vocab,
              threads > 0 ? unsigned(threads) : std::thread::hardware_concurrency());
  std::printf("budget %llu: counted %llu bytes (%.4f%% used)%s, %d allocation rounds, %d fine steps\n",
              (unsigned long long)budget, (unsigned long long)r->pack.counted_bytes,
              100.0 * double(r->pack.counted_bytes) / double(budget), r->underfilled ? " UNDERFILLED" : "",
              r->allocation_rounds, r->fine_steps);
  std::printf("%-34s %9s\n", "phase (from progress events)", "seconds");
  std::printf("%-34s %9.2f\n", "ladder pricing (plain rounding)", ladder);
  std::printf("%-34s %9.2f\n", "gptq (factorise + candidates)", gptq_end - ladder);
  std::printf("%-34s %9.2f\n", "allocation + fine fill + assembly", total - gptq_end);
  std::printf("%-34s %9.2f\n", "total", total);
  std::printf("%-34s %9.2f  (/ threads = %.2f s: the wall time on an otherwise idle machine)\n",
              "cpu seconds, all threads", cpu,
              cpu / double(threads > 0 ? unsigned(threads) : std::thread::hardware_concurrency()));
  const auto& tm = r->timings;
  std::printf("%-34s %9s\n", "phase (RdResult::timings)", "seconds");
  std::printf("%-34s %9.2f\n", "ladder pricing", tm.ladder);
  std::printf("%-34s %9.2f\n", "gptq factorisations", tm.factor);
  std::printf("%-34s %9.2f\n", "gptq candidates", tm.gptq);
  std::printf("%-34s %9.2f\n", "allocation", tm.allocation);
  std::printf("%-34s %9.2f\n", "fine fill", tm.fine_fill);
  std::printf("%-34s %9.2f\n", "assembly (build + verify)", tm.assembly);
  std::printf("%-34s %9.2f\n", "total", tm.total);
  return 0;
}
