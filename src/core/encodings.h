// The encoding registry is the counted decoder's (gpk/encodings.h); this adds
// the scalar reference decoders used as test oracles (ggml's `_ref`).
#pragma once

#include "gpk/encodings.h"

namespace golfpack::gpk {

// The slow, obviously-correct decoder of `encoding`; same contract as the
// registry's decode (Artifact::DecodeTensor(i, DecodeRef) uses it).
Status DecodeRef(uint32_t encoding, const TensorView& t, std::span<float> out);

// The integer codes of an `ans_grid` tensor (row-major, numel of them), by the
// reference decoder; the stored scale bytes follow in *stored_scales (without
// the bytes a row-order carry holds) when it is not null.
Result<std::vector<int32_t>> AnsGridCodesRef(const TensorView& t, std::vector<uint8_t>* stored_scales = nullptr);

}  // namespace golfpack::gpk
