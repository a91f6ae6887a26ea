// The encoding registry is the counted decoder's (gpk/encodings.h); this adds
// the scalar reference decoders used as test oracles (ggml's `_ref`).
#pragma once

#include "gpk/encodings.h"

namespace golfpack::gpk {

// The slow, obviously-correct decoder of `encoding`; same contract as the
// registry's decode (Artifact::DecodeTensor(i, DecodeRef) uses it).
Status DecodeRef(uint32_t encoding, const TensorView& t, std::span<float> out);

}  // namespace golfpack::gpk
