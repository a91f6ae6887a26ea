// The context-mixing coder of cm_coder.h: lookup tables, the binary
// arithmetic coder, the model (adaptive probabilities and the mixer) and the
// one loop over the tensors that both the encoder and the decoder run.
#include "codec/cm_coder.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
#include <string>

namespace golfpack::encode {
namespace {

// ---------------------------------------------------------------- tables

constexpr int kMaxEscLen = 15;  // exp-Golomb length prefix: e + 1 < 2^16
constexpr int kTables = 2;      // adaptive-probability inputs
constexpr int kInputs = kTables;     // mixer inputs (no bias input: it did not help)
constexpr int kCounterLimit = 1020;   // adaptation count cap: rate >= 1 / (limit + 1.5)
constexpr int kMixShift = 14;         // weight step = stretch * err * kMixLr >> kMixShift
constexpr int kMixLr = 8;
constexpr int64_t kMaxWeight = 1 << 24;  // |weight| <= 256.0
constexpr int kMagCap = 63;           // |code| is capped here in the column and row statistics
constexpr int kColBuckets = 16, kRowBuckets = 16, kColSets = 4;
constexpr uint16_t kEndMarker = 0xA5C3;

// The logistic function at 33 points x = (i - 16) * 128, scaled: squash(x) =
// 4096 / (1 + e^(-x / 256)), rounded, clamped to [1, 4095].
constexpr int kSquashPoints[33] = {1,    2,    4,    6,    10,   17,   27,   45,   74,   120,  194,
                                   311,  488,  747,  1102, 1546, 2048, 2550, 2994, 3349, 3608, 3785,
                                   3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095};

// Piecewise-linear squash on x in [-2047, 2047] (integer only, so the tables
// are the same on every machine).
constexpr int SquashCalc(int x) {
  if (x > 2047) x = 2047;
  if (x < -2047) x = -2047;
  const int w = x & 127;
  const int i = (x >> 7) + 16;
  return (kSquashPoints[i] * (128 - w) + kSquashPoints[i + 1] * w + 64) >> 7;
}

struct CounterStep {
  uint32_t rate;  // 2^16 / (n + 1.5)
  uint32_t inc;   // 1 below the count cap, else 0
};

struct Luts {
  std::array<int16_t, 4096> stretch{};  // inverse of squash: p (12-bit) -> x
  std::array<int16_t, 4096> squash{};   // x + 2048 -> p
  std::array<CounterStep, 1024> step{};  // by adaptation count n
  std::array<uint8_t, 4096> qmean{};    // mean |code| * 64 -> bucket

  Luts() {
    for (int x = -2048; x < 2048; ++x) squash[size_t(x + 2048)] = int16_t(SquashCalc(x));
    int next = 0;  // stretch[p] = the smallest x with squash(x) >= p
    for (int x = -2047; x <= 2047; ++x) {
      const int v = SquashCalc(x);
      for (int p = next; p <= v; ++p) stretch[size_t(p)] = int16_t(x);
      next = std::max(next, v + 1);
    }
    for (int p = next; p < 4096; ++p) stretch[size_t(p)] = 2047;
    for (int n = 0; n < 1024; ++n)
      step[size_t(n)] = {uint32_t((2u << 16) / uint32_t(2 * n + 3)), n < kCounterLimit ? 1u : 0u};
    // Bucket upper bounds in mean |code| * 64 (log-spaced).
    constexpr int kMeanBounds[kColBuckets - 1] = {3, 5, 9, 14, 20, 29, 38, 51, 64, 83, 109, 141, 192, 269, 384};
    for (int v = 0; v < 4096; ++v) {
      int q = 0;
      while (q < kColBuckets - 1 && v >= kMeanBounds[q]) ++q;
      qmean[size_t(v)] = uint8_t(q);
    }
  }
};

const Luts& Tables() {
  static const Luts luts;
  return luts;
}

inline int Squash(const Luts& L, int x) { return L.squash[size_t(x + 2048)]; }

// Adaptive probability: P(1) in the high 22 bits, the adaptation count in the
// low 10. Starts at 1/2 with count 0; each update moves P by 1 / (n + 1.5)
// of the error, so early on it is a frequency count, later an average over
// the last ~kCounterLimit decisions.
constexpr uint32_t kCounterInit = (1u << 31);

inline int CounterP(uint32_t t) { return int(t >> 20); }  // 12-bit

// p + d stays in [0, 2^22) because rate < 2^16, and d * 1024 leaves n alone.
inline void CounterUpdate(const Luts& L, uint32_t& t, int bit) {
  const CounterStep& s = L.step[t & 1023u];
  const int32_t p = int32_t(t >> 10);
  const int32_t target = -bit & ((1 << 22) - 1);
  const int32_t d = int32_t((int64_t(target - p) * s.rate) >> 16);
  t += uint32_t(d) * 1024u + s.inc;
}

// ---------------------------------------------------------------- coder

// Binary arithmetic coder; its state invariant is written out in cm_coder.h
// (x1 < x2 with different top bytes between decisions; the decoder's x lies
// in [x1, x2]; P(1) = p / 4096 with 1 <= p <= 4095).
class ArithEncoder {
 public:
  explicit ArithEncoder(std::vector<uint8_t>* out) : out_(out) {}
  int Code(int bit, int p) {
    const uint32_t xmid = x1_ + ((x2_ - x1_) >> kCmProbBits) * uint32_t(p);
    if (bit) {
      x2_ = xmid;
    } else {
      x1_ = xmid + 1;
    }
    while (((x1_ ^ x2_) & 0xFF000000u) == 0) {
      out_->push_back(uint8_t(x2_ >> 24));
      x1_ <<= 8;
      x2_ = (x2_ << 8) | 255u;
    }
    return bit;
  }
  // x1 < 0xFF000000 by the invariant, so the sum does not overflow.
  void Flush() { out_->push_back(uint8_t(((x1_ + 0xFFFFFFu) & 0xFF000000u) >> 24)); }

 private:
  std::vector<uint8_t>* out_;
  uint32_t x1_ = 0, x2_ = 0xFFFFFFFFu;
};

class ArithDecoder {
 public:
  explicit ArithDecoder(std::span<const uint8_t> in) : in_(in) {
    for (int i = 0; i < 4; ++i) x_ = (x_ << 8) | Next();
  }
  int Code(int /*bit*/, int p) {
    const uint32_t xmid = x1_ + ((x2_ - x1_) >> kCmProbBits) * uint32_t(p);
    const int bit = x_ <= xmid;
    // Selects without a branch: where the decoded bit steers no control
    // flow (a sign), nothing is mispredicted.
    const uint32_t mask = 0u - uint32_t(bit);
    x2_ = (xmid & mask) | (x2_ & ~mask);
    x1_ = (x1_ & mask) | ((xmid + 1) & ~mask);
    while (((x1_ ^ x2_) & 0xFF000000u) == 0) {
      x1_ <<= 8;
      x2_ = (x2_ << 8) | 255u;
      x_ = (x_ << 8) | Next();
    }
    return bit;
  }
  // Every byte read, plus exactly the three implicit zeros the flush assumes.
  bool ConsumedExactly() const { return pos_ == in_.size() + 3; }

 private:
  uint32_t Next() {
    const uint32_t b = pos_ < in_.size() ? in_[pos_] : 0u;
    ++pos_;
    return b;
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  uint32_t x1_ = 0, x2_ = 0xFFFFFFFFu, x_ = 0;
};

// ---------------------------------------------------------------- model

// Binarization slots: per Rice parameter k (0..kMaxK) 16 slots: 0 the zero
// flag, 1 the sign, 2 + j the unary decision "q > j" (j = 0..13).
constexpr int kMaxK = 3;
constexpr int kSlotsPerK = 16;
constexpr int kSlots = kSlotsPerK * (kMaxK + 1);
constexpr int kUnary = kSlotsPerK - 2;  // q >= kUnary escapes
// Table 0 (column): per column bucket, 19 states of kSlots counters: 4 for
// the zero flag (the column's sign-bias level), 7 for the sign (signed bias),
// 8 for the magnitude (level x whether the sign agrees with the bias).
constexpr int kColStates = 4 + 7 + 8;
constexpr int kSignStates = 4, kMagStates = 11;
// Table 1 (row and neighbours): row bucket (or the caller's row context) x
// min(a, 2) x min(u, 2) for the zero flag and the magnitude, then 9 sign
// contexts (sign of left x sign of above).
constexpr int kRowNbCtx = kRowBuckets * 3 * 3, kSignCtx = 3 * 3;
constexpr int kCtx[kTables] = {kColBuckets * kColStates, kRowNbCtx + kSignCtx};
constexpr int kBadSymbol = -65536;  // decoder: magnitude out of range

// What the decoder knows about column c before row r: bucket of the mean
// |code| with the tensor's mean as a prior (qcol), the sign bias of the mean
// code relative to it (level 0..3 and its sign), the Rice parameter, packed
// by ColumnContext at the start of each row.
struct ColCtx {
  uint32_t col;  // offset of the column bucket's first state in table 0, plus k's slots
  uint8_t level, neg, k, set;
};

// A neighbour as the contexts see it: min(|v|, 2) in bits 0-1, its sign
// (0 zero, 1 positive, 2 negative) in bits 2-3.
inline uint8_t NbCode(int v) {
  const int m = v < 0 ? -v : v;
  return uint8_t((m < 2 ? m : 2) | (int(v > 0) << 2) | (int(v < 0) << 3));
}

class CmModel {
 public:
  CmModel() : L_(Tables()) {
    for (int i = 0; i < kTables; ++i) t_[i].assign(size_t(kCtx[i]) * kSlots, kCounterInit);
    w_.assign(size_t(kSlots) * kColSets * kInputs, (1 << 16) / 2);
    esc_len_.fill(kCounterInit);
    for (auto& row : esc_bits_) row.fill(kCounterInit);
    for (auto& row : low_) row.fill(kCounterInit);
  }

  static ColCtx ColumnContext(const Luts& L, uint64_t colmean, int64_t bias) {
    const uint64_t abias = uint64_t(bias < 0 ? -bias : bias);
    const int qcol = L.qmean[size_t(std::min<uint64_t>(colmean, 4095))];
    const int k = int(colmean >= 256) + int(colmean >= 512) + int(colmean >= 1024);
    ColCtx c;
    c.col = uint32_t(qcol * kColStates * kSlots + k * kSlotsPerK);
    c.level = uint8_t(int(abias * 8 > colmean) + int(abias * 4 > colmean) + int(abias * 2 > colmean));
    c.neg = uint8_t(bias < 0);
    c.k = uint8_t(k);
    c.set = uint8_t(k * kSlotsPerK * kColSets + qcol * kColSets / kColBuckets);
    return c;
  }

  // A weight moves by less than 2^13 per decision and a symbol makes at most
  // 16 mixed decisions, so clamping every 2^17 symbols keeps |w| < 2^24 +
  // 2^34 and the int64 dot products far from overflow.
  void ClampWeights() {
    for (int64_t& w : w_) w = std::clamp<int64_t>(w, -kMaxWeight, kMaxWeight);
  }

  // Codes one code v (encoder) or decodes one (decoder: v is ignored); returns
  // the code, or kBadSymbol when a decoded magnitude exceeds kCmMaxMagnitude.
  // cc: the column's context; rowsel: row bucket (or row context); left and
  // up: the packed neighbours, NbCode(code).
  template <bool kEnc, class C>
  [[gnu::always_inline]] inline int Symbol(C& coder, const ColCtx& cc, int rowsel, uint8_t left, uint8_t up, int v) {
    const int m = kEnc ? std::abs(v) : 0;
    const int k = cc.k;
    uint32_t* const col = t_[0].data() + cc.col;
    uint32_t* const row =
        t_[1].data() + size_t(rowsel * 9 + (left & 3) * 3 + (up & 3)) * kSlots + size_t(k) * kSlotsPerK;
    int64_t* const w = w_.data() + size_t(cc.set) * kInputs;
    const int level = cc.level;
    // Every decision reads only its own slot's counters and weights, so the
    // predictions of the zero flag and the sign are formed before either is
    // coded: after a mispredicted branch on a decoded bit only the coder's
    // few operations remain on the critical path. The stream is the same as
    // forming each prediction just before its decision.
    Pred zero = Predict(col + level * kSlots, row, w, 0);
    uint32_t* const sign_direct =
        &t_[1][size_t(kRowNbCtx + (left >> 2) * 3 + (up >> 2)) * kSlots + size_t(k) * kSlotsPerK + 1];
    // Both sign predictions, without a branch on the column (3 -+ level).
    const int neg_mask = -int(cc.neg);
    const Pred sign = Predict(col + (kSignStates + 3 + ((level ^ neg_mask) - neg_mask)) * kSlots, row, w, 1);
    const int sign_p = std::clamp(CounterP(*sign_direct), 1, 4095);
    if (!Mixed(coder, zero, m != 0)) return 0;
    int neg;
    if (level > 0) {
      neg = Mixed(coder, sign, v < 0);
    } else {
      // Without a column sign bias the sign is close to a fair coin: one
      // adaptive probability, by the neighbours' signs, instead of the mixer.
      neg = Direct(coder, *sign_direct, sign_p, v < 0);
    }
    uint32_t* const col_m = col + (kMagStates + 2 * level + (level > 0 && neg == cc.neg)) * kSlots;
    const uint32_t q_true = kEnc ? uint32_t(m - 1) >> k : 0u;
    uint32_t q = 0;
    Pred u0 = Predict(col_m, row, w, 2), u1 = Predict(col_m, row, w, 3);
    if (Mixed(coder, u0, q_true > 0)) {
      q = 1;
      if (Mixed(coder, u1, q_true > 1)) {
        q = 2;
        while (q < uint32_t(kUnary) && Bin(coder, col_m, row, w, 2 + int(q), q_true > q)) ++q;
      }
    }
    if (q == uint32_t(kUnary)) {
      const uint32_t e1 = kEnc ? q_true - kUnary + 1 : 0u;  // >= 1
      const int nb_true = kEnc ? std::bit_width(e1) - 1 : 0;
      int nb = 0;
      while (nb < kMaxEscLen && Direct(coder, esc_len_[size_t(nb)], nb_true > nb)) ++nb;
      uint32_t val = 1;
      for (int i = nb - 1; i >= 0; --i)
        val = val * 2 + uint32_t(Direct(coder, esc_bits_[size_t(nb)][size_t(i)], int((e1 >> i) & 1u)));
      q = uint32_t(kUnary) - 1 + val;
      if (q > uint32_t(kCmMaxMagnitude)) return kBadSymbol;
    }
    uint32_t node = 1;  // the k low bits, high to low, as a binary tree
    const uint32_t low_true = kEnc ? uint32_t(m - 1) & ((1u << k) - 1) : 0u;
    auto& low = low_[size_t(k * 3 + int(std::min<uint32_t>(q, 2)))];
    for (int i = k - 1; i >= 0; --i) node = node * 2 + uint32_t(Direct(coder, low[node], int((low_true >> i) & 1u)));
    const uint64_t mag = 1 + (uint64_t(q) << k) + (node - (1u << k));
    if (mag > uint64_t(kCmMaxMagnitude)) return kBadSymbol;
    return neg ? -int(mag) : int(mag);
  }

 private:
  // A mixed decision's prediction: its two counters and weight pair, the
  // counters' stretched probabilities and the squashed mix p (in [1, 4095]).
  struct Pred {
    uint32_t* c0;
    uint32_t* c1;
    int64_t* w;
    int st0, st1, p;
  };

  // Slot s's prediction: the two tables' probabilities, stretched, weighted
  // by the slot's weight pair, squashed.
  [[gnu::always_inline]] inline Pred Predict(uint32_t* t0, uint32_t* t1, int64_t* wset, int s) const {
    Pred r{t0 + s, t1 + s, wset + size_t(s) * kColSets * kInputs, 0, 0, 0};
    r.st0 = L_.stretch[size_t(CounterP(*r.c0))];
    r.st1 = L_.stretch[size_t(CounterP(*r.c1))];
    const int64_t dot = r.w[0] * r.st0 + r.w[1] * r.st1;
    r.p = Squash(L_, int(std::clamp<int64_t>(dot >> 16, -2047, 2047)));
    return r;
  }

  // Codes the decision, then the mixer takes an online gradient step on the
  // coding cost and the tables learn.
  template <class C>
  [[gnu::always_inline]] inline int Mixed(C& coder, const Pred& r, int bit) {
    bit = coder.Code(bit, r.p);
    const int err = ((bit << 12) - r.p) * kMixLr;
    r.w[0] += (r.st0 * err) >> kMixShift;  // |step| < 2^13; ClampWeights bounds the sum
    r.w[1] += (r.st1 * err) >> kMixShift;
    CounterUpdate(L_, *r.c0, bit);
    CounterUpdate(L_, *r.c1, bit);
    return bit;
  }

  // One mixed decision in slot s, predicted just before it is coded.
  template <class C>
  [[gnu::always_inline]] inline int Bin(C& coder, uint32_t* t0, uint32_t* t1, int64_t* wset, int s, int bit) {
    return Mixed(coder, Predict(t0, t1, wset, s), bit);
  }

  // One decision coded with a single adaptive probability.
  template <class C>
  [[gnu::always_inline]] inline int Direct(C& coder, uint32_t& t, int bit) {
    return Direct(coder, t, std::clamp(CounterP(t), 1, 4095), bit);
  }
  // The same with p = clamp(CounterP(t), 1, 4095) formed by the caller.
  template <class C>
  [[gnu::always_inline]] inline int Direct(C& coder, uint32_t& t, int p, int bit) {
    bit = coder.Code(bit, p);
    CounterUpdate(L_, t, bit);
    return bit;
  }

  const Luts& L_;
  std::vector<uint32_t> t_[kTables];
  std::vector<int64_t> w_;
  std::array<uint32_t, kMaxEscLen + 1> esc_len_{};
  std::array<std::array<uint32_t, kMaxEscLen + 1>, kMaxEscLen + 1> esc_bits_{};
  std::array<std::array<uint32_t, 1 << kMaxK>, (kMaxK + 1) * 3> low_{};
};

// The loop both directions run. Encoder: codes[] is read. Decoder: written.
template <bool kEnc, class C>
Status Run(C& coder_io, std::span<const CmTensorShape> tensors, int16_t* codes) {
  // A local copy whose address never escapes, so its state can stay in
  // registers (stores to the tables could otherwise alias it).
  C coder = coder_io;
  CmModel model;
  const Luts& L = Tables();
  std::vector<uint64_t> col_sum;  // per column: sum of min(m, 63)
  std::vector<int64_t> col_bias;  // per column: sum of clamp(v, -63, 63)
  std::vector<ColCtx> col_ctx;
  std::vector<uint8_t> prev_buf, cur_buf;  // NbCode of the row above / this row, 1 pad left
  uint64_t prior_mean = 64;                // mean |code| * 64 carried between tensors
  uint64_t since_clamp = 0;
  size_t i = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const CmTensorShape& ts = tensors[t];
    const uint64_t rows = ts.rows, cols = ts.cols;
    if (rows == 0 || cols == 0) continue;
    col_sum.assign(cols, 0);
    col_bias.assign(cols, 0);
    col_ctx.resize(cols);
    prev_buf.assign(cols + 1, 0);
    cur_buf.assign(cols + 1, 0);
    uint64_t tensor_sum = 0;  // sum of min(m, 63)
    for (uint64_t r = 0; r < rows; ++r) {
      const uint64_t gmean = r ? std::min<uint64_t>(tensor_sum * 64 / (r * cols), 4095) : prior_mean;
      // Column means over rows [0, r) with the tensor's mean as a prior worth
      // two rows: (sum + 2 * gmean) / (r + 2), by a reciprocal.
      const uint64_t recip = (uint64_t{1} << 32) / (r + 2);
      const uint64_t prior = 2 * gmean;
      // Refreshed every row while the means settle, then every 4th row.
      if (r < 32 || (r & 3) == 0)
        for (uint64_t c = 0; c < cols; ++c)
          col_ctx[c] = CmModel::ColumnContext(L, ((col_sum[c] * 64 + prior) * recip) >> 32,
                                              (col_bias[c] * 64 * int64_t(recip)) >> 32);
      since_clamp += cols;
      if (since_clamp >= (uint64_t{1} << 16)) {  // at least every 2^17 symbols
        model.ClampWeights();
        since_clamp = 0;
      }
      uint32_t ema = uint32_t(gmean << 3);  // the row's running mean |code| * 512
      const int rowctx = ts.row_context.empty() ? -1 : std::min<int>(ts.row_context[r], kCmMaxRowContext);
      const uint8_t* up = prev_buf.data() + 1;
      uint8_t* cu = cur_buf.data() + 1;
      for (uint64_t c = 0; c < cols; ++c, ++i) {
        if ((c & 0xFFFF) == 0xFFFF) model.ClampWeights();
        const int rowsel = rowctx >= 0 ? rowctx : L.qmean[ema >> 3];  // ema >> 3 <= 63 * 64
        int v;
        if constexpr (kEnc) {
          v = model.Symbol<true>(coder, col_ctx[c], rowsel, cu[c - 1], up[c], codes[i]);
        } else {
          v = model.Symbol<false>(coder, col_ctx[c], rowsel, cu[c - 1], up[c], 0);
          if (v == kBadSymbol) return Corrupt("cm stream: magnitude over ", kCmMaxMagnitude, " at element ", i);
          codes[i] = int16_t(v);
        }
        const uint32_t m = std::min<uint32_t>(uint32_t(std::abs(v)), kMagCap);
        cu[c] = NbCode(v);
        col_sum[c] += m;
        col_bias[c] += std::clamp(v, -kMagCap, kMagCap);
        ema = ema + uint32_t((int32_t(m << 9) - int32_t(ema)) >> 3);
        tensor_sum += m;
      }
      std::swap(prev_buf, cur_buf);
    }
    prior_mean = std::min<uint64_t>(tensor_sum * 64 / (rows * cols), 4095);
  }
  coder_io = coder;
  return Status::Ok();
}

// Checks the shapes against the element count; *total receives it.
Status CheckShapes(std::span<const CmTensorShape> tensors, uint64_t* total) {
  uint64_t n = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const CmTensorShape& s = tensors[t];
    uint64_t numel = 0;
    if (__builtin_mul_overflow(s.rows, s.cols, &numel) || __builtin_add_overflow(n, numel, &n))
      return InvalidArgument("cm coder: element count overflows at tensor ", t);
    if (!s.row_context.empty() && s.row_context.size() != s.rows)
      return InvalidArgument("cm coder: tensor ", t, " has ", s.rows, " rows but ", s.row_context.size(),
                             " row contexts");
  }
  *total = n;
  return Status::Ok();
}

}  // namespace

Result<std::vector<uint8_t>> CmEncode(std::span<const int16_t> codes, std::span<const CmTensorShape> tensors) {
  uint64_t total = 0;
  GP_RETURN_IF_ERROR(CheckShapes(tensors, &total));
  if (total != codes.size())
    return InvalidArgument("cm encode: ", codes.size(), " codes for shapes holding ", total, " elements");
  for (size_t i = 0; i < codes.size(); ++i)
    if (codes[i] < -kCmMaxMagnitude)
      return InvalidArgument("cm encode: code ", int(codes[i]), " at ", i, " is outside +-", kCmMaxMagnitude);
  std::vector<uint8_t> out;
  if (total == 0) return out;
  out.reserve(codes.size() / 2 + 16);
  ArithEncoder enc(&out);
  GP_RETURN_IF_ERROR(Run<true>(enc, tensors, const_cast<int16_t*>(codes.data())));
  for (int b = 15; b >= 0; --b) enc.Code((kEndMarker >> b) & 1, 2048);
  enc.Flush();
  return out;
}

Status CmDecode(std::span<const uint8_t> stream, std::span<const CmTensorShape> tensors, std::span<int16_t> out) {
  uint64_t total = 0;
  GP_RETURN_IF_ERROR(CheckShapes(tensors, &total));
  if (total != out.size())
    return InvalidArgument("cm decode: output holds ", out.size(), " codes, the shapes ", total);
  if (total == 0) {
    if (!stream.empty()) return Corrupt("cm stream: ", stream.size(), " bytes for zero codes");
    return Status::Ok();
  }
  ArithDecoder dec(stream);
  GP_RETURN_IF_ERROR(Run<false>(dec, tensors, out.data()));
  uint32_t marker = 0;
  for (int b = 0; b < 16; ++b) marker = (marker << 1) | uint32_t(dec.Code(0, 2048));
  if (marker != kEndMarker) return Corrupt("cm stream: end marker mismatch (truncated or corrupted stream)");
  if (!dec.ConsumedExactly()) return Corrupt("cm stream: stream length does not match its content (", stream.size(), " bytes)");
  return Status::Ok();
}

Result<std::vector<uint8_t>> CmEncode(std::span<const int16_t> codes, uint64_t rows, uint64_t cols,
                                      std::span<const uint8_t> row_context) {
  const CmTensorShape s{rows, cols, row_context};
  return CmEncode(codes, std::span<const CmTensorShape>(&s, 1));
}

Status CmDecode(std::span<const uint8_t> stream, uint64_t rows, uint64_t cols, std::span<int16_t> out,
                std::span<const uint8_t> row_context) {
  const CmTensorShape s{rows, cols, row_context};
  return CmDecode(stream, std::span<const CmTensorShape>(&s, 1), out);
}

}  // namespace golfpack::encode
