// ans_grid's row-order carry, the writer's side (row_carry.h). Big integers
// are little-endian vectors of 32-bit words.
#include "codec/row_carry.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "core/encodings.h"

namespace golfpack::encode {

uint64_t RowCarryBytes(uint64_t rows, uint64_t scale_bytes) {
  if (rows < 2 || rows > kRowCarryMaxRows) return 0;
  // rows! exactly, then floor((bit_width - 1) / 8): 256^B <= 2^(bit_width - 1) <= rows!.
  std::vector<uint32_t> f{1};
  for (uint64_t k = 2; k <= rows; ++k) {
    uint64_t c = 0;
    for (uint32_t& w : f) c += uint64_t{w} * k, w = uint32_t(c), c >>= 32;
    if (c) f.push_back(uint32_t(c));
  }
  const uint64_t bits = 32 * (f.size() - 1) + uint64_t(32 - std::countl_zero(f.back()));
  return std::min<uint64_t>({(bits - 1) / 8, scale_bytes, 65535});
}

std::vector<uint64_t> SortedRank(std::span<const int32_t> codes, uint64_t rows, uint64_t cols, bool* distinct) {
  std::vector<uint64_t> order(rows), rank(rows);
  for (uint64_t r = 0; r < rows; ++r) order[r] = r;
  const int32_t* c = codes.data();
  auto row_less = [&](uint64_t a, uint64_t b) {
    return std::lexicographical_compare(c + a * cols, c + a * cols + cols, c + b * cols, c + b * cols + cols);
  };
  std::stable_sort(order.begin(), order.end(), row_less);
  for (uint64_t k = 0; k < rows; ++k) rank[order[k]] = k;
  if (distinct) {
    *distinct = true;
    for (uint64_t k = 1; k < rows; ++k)
      if (!row_less(order[k - 1], order[k])) *distinct = false;
  }
  return rank;
}

std::optional<std::vector<uint8_t>> OrderRank(std::span<const uint64_t> rank, uint64_t bytes) {
  const uint64_t n = rank.size();
  std::vector<uint32_t> x;
  for (uint64_t r = 0; r < n; ++r) {
    uint64_t c = 0;
    for (uint64_t s = r + 1; s < n; ++s) c += rank[s] < rank[r];
    for (uint32_t& w : x) c += uint64_t{w} * (n - r), w = uint32_t(c), c >>= 32;
    if (c) x.push_back(uint32_t(c));
  }
  std::vector<uint8_t> out(bytes, 0);
  for (uint64_t i = 0; i < 4 * x.size(); ++i) {
    const auto v = uint8_t(x[i / 4] >> (8 * (i % 4)));
    if (i < bytes) {
      out[i] = v;
    } else if (v) {
      return std::nullopt;
    }
  }
  return out;
}

Result<std::vector<uint64_t>> OrderOfRank(std::span<const uint8_t> x, uint64_t rows) {
  std::vector<uint32_t> w((x.size() + 3) / 4, 0);
  for (size_t i = 0; i < x.size(); ++i) w[i / 4] |= uint32_t{x[i]} << (8 * (i % 4));
  // Digits from the last: d_r = X mod (rows - r), X = X div (rows - r).
  std::vector<uint64_t> d(rows, 0);
  for (uint64_t r = rows; r-- > 0;) {
    const uint64_t m = rows - r;
    uint64_t rem = 0;
    for (size_t i = w.size(); i-- > 0;) {
      const uint64_t cur = (rem << 32) | w[i];
      w[i] = uint32_t(cur / m);
      rem = cur % m;
    }
    d[r] = rem;
  }
  for (uint32_t v : w)
    if (v) return InvalidArgument("row carry: X is not below rows! for " + std::to_string(rows) + " rows");
  std::vector<uint64_t> left(rows), position(rows);
  for (uint64_t k = 0; k < rows; ++k) left[k] = k;
  for (uint64_t r = 0; r < rows; ++r) {
    position[r] = left[d[r]];
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(d[r]));
  }
  return position;
}

namespace {

// The inner tensor of a lowrank or patch tensor t (params parsed into p).
template <class P>
Result<gpk::EncodedTensor> Inner(const gpk::EncodedTensor& t, P& p) {
  GP_ASSIGN_OR_RETURN(p, P::Parse(t.params));
  if (p.inner_payload > t.payload.size()) return Corrupt("row carry: inner payload past the payload of " + t.name);
  gpk::EncodedTensor in = t;
  in.encoding = p.inner;
  in.params = p.inner_params;
  in.payload.assign(t.payload.begin(), t.payload.begin() + static_cast<std::ptrdiff_t>(p.inner_payload));
  return in;
}

// t with its inner tensor replaced by `in`.
template <class P>
gpk::EncodedTensor Rewrap(const gpk::EncodedTensor& t, P p, const gpk::EncodedTensor& in) {
  gpk::EncodedTensor out = t;
  out.params.clear();
  out.payload = in.payload;
  out.payload.insert(out.payload.end(), t.payload.begin() + static_cast<std::ptrdiff_t>(p.inner_payload), t.payload.end());
  p.inner_params = in.params;
  p.inner_payload = in.payload.size();
  out.params = p.Serialize();
  return out;
}

}  // namespace

Result<std::optional<SortedScales>> SortRowsForCarry(const gpk::EncodedTensor& t, std::string* why) {
  auto no = [&](const std::string& s) -> Result<std::optional<SortedScales>> {
    if (why) *why = s;
    return std::optional<SortedScales>{};
  };
  if (t.encoding == gpk::kLowRank) {
    gpk::LowRankParams p;
    GP_ASSIGN_OR_RETURN(gpk::EncodedTensor in, Inner(t, p));
    return SortRowsForCarry(in, why);
  }
  if (t.encoding == gpk::kPatch) {
    gpk::PatchParams p;
    GP_ASSIGN_OR_RETURN(gpk::EncodedTensor in, Inner(t, p));
    return SortRowsForCarry(in, why);
  }
  if (t.encoding != gpk::kAnsGrid) return no("not ans_grid");
  if (t.params.size() != 6) return no("already carries");
  GP_ASSIGN_OR_RETURN(gpk::AnsGridParams p, gpk::AnsGridParams::Parse(t.params));
  if (p.group_size || t.shape.size() != 2) return no("not one scale per row of a matrix");
  const uint64_t rows = t.shape[0], cols = t.shape[1], w = gpk::ScaleBytes(p.scale_dtype);
  SortedScales s;
  s.carry = RowCarryBytes(rows, rows * w);
  if (!s.carry) return no("rows outside [2, 8192]");
  const gpk::TensorView view{t.shape, rows * cols, t.params, t.payload, {}};
  std::vector<uint8_t> stored;
  GP_ASSIGN_OR_RETURN(std::vector<int32_t> codes, gpk::AnsGridCodesRef(view, &stored));
  bool distinct = false;
  s.rank = SortedRank(codes, rows, cols, &distinct);
  if (!distinct) return no("two rows have equal codes");
  s.scales.resize(rows * w);
  for (uint64_t r = 0; r < rows; ++r) std::copy_n(&stored[r * w], w, &s.scales[s.rank[r] * w]);
  return std::optional<SortedScales>(std::move(s));
}

Result<std::optional<gpk::EncodedTensor>> WithRowCarry(const gpk::EncodedTensor& t, std::string* why) {
  if (t.encoding == gpk::kLowRank || t.encoding == gpk::kPatch) {
    gpk::LowRankParams lp;
    gpk::PatchParams pp;
    Result<gpk::EncodedTensor> in = t.encoding == gpk::kLowRank ? Inner(t, lp) : Inner(t, pp);
    if (!in.ok()) return in.status();
    GP_ASSIGN_OR_RETURN(std::optional<gpk::EncodedTensor> with, WithRowCarry(*in, why));
    if (!with) return with;
    return std::optional<gpk::EncodedTensor>(t.encoding == gpk::kLowRank ? Rewrap(t, lp, *with) : Rewrap(t, pp, *with));
  }
  GP_ASSIGN_OR_RETURN(std::optional<SortedScales> s, SortRowsForCarry(t, why));
  if (!s) return std::optional<gpk::EncodedTensor>{};
  const auto x = OrderRank(s->rank, s->carry);
  if (!x || !std::equal(x->begin(), x->end(), s->scales.begin())) {
    if (why) *why = "the row order does not spell its scales";
    return std::optional<gpk::EncodedTensor>{};
  }
  GP_ASSIGN_OR_RETURN(gpk::AnsGridParams p, gpk::AnsGridParams::Parse(t.params));
  p.carry = uint16_t(s->carry);
  gpk::EncodedTensor out = t;
  out.params = p.Serialize();
  const uint64_t sb = s->scales.size();
  out.payload.assign(s->scales.begin() + static_cast<std::ptrdiff_t>(s->carry), s->scales.end());
  out.payload.insert(out.payload.end(), t.payload.begin() + static_cast<std::ptrdiff_t>(sb), t.payload.end());
  return std::optional<gpk::EncodedTensor>(std::move(out));
}

}  // namespace golfpack::encode
