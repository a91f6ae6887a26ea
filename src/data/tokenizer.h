// sentencepiece tokenizer: training with the Parameter Golf settings and
// encoding/decoding through the sentencepiece runtime.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "data/byte_lut.h"
#include "data/corpus.h"
#include "data/tokenizer_model.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace golfpack::data {

struct TokenizerTrainOptions {
  int vocab_size = 1024;
  int num_threads = 2;
  int64_t input_sentence_size = 0;  // training sentences sampled by sentencepiece; 0 = all
};

// Longest piece of text handed to the sentencepiece trainer in one sentence.
// sentencepiece silently drops sentences above max_sentence_length (4192 bytes).
inline constexpr size_t kMaxTrainingPieceBytes = 4000;

// How a document is cut for the trainer: split on line breaks, blank pieces
// dropped, longer pieces cut at the last space/tab before max_bytes (or at a
// UTF-8 character boundary when there is none). Views point into `text`.
std::vector<std::string_view> SplitTrainingText(std::string_view text,
                                                size_t max_bytes = kMaxTrainingPieceBytes);

// Trains a BPE tokenizer on `docs` with exactly the Parameter Golf settings
// (model_type=bpe, byte_fallback, split_digits, nmt_nfkc, no dummy prefix,
// character_coverage 0.999, pad/bos/eos/unk = 0/1/2/3, hard_vocab_limit=false)
// and writes the serialized model atomically to `model_path`. sentencepiece's
// own logging is silenced while it runs.
Status TrainTokenizer(const std::vector<Document>& docs, const std::string& model_path,
                      const TokenizerTrainOptions& options = {});
// Same, over documents owned elsewhere (no copy of the texts).
Status TrainTokenizer(std::span<const Document* const> docs, const std::string& model_path,
                      const TokenizerTrainOptions& options = {});

// A sentencepiece model that can encode and decode: TokenizerModel plus the
// sentencepiece runtime. Lives in golfpack_spm, which must not share a process
// with libtorch (see src/data/CMakeLists.txt).
class Tokenizer {
 public:
  // NotFound for a missing file, Corrupt when the bytes are not a usable
  // sentencepiece model.
  static Result<Tokenizer> Load(const std::string& model_path);
  // Same from the bytes of a .model file; `name` is used in messages.
  static Result<Tokenizer> FromSerialized(std::string serialized, const std::string& name);

  const TokenizerModel& model() const { return model_; }
  int vocab_size() const { return model_.vocab_size(); }
  int bos_id() const { return model_.bos_id(); }
  int eos_id() const { return model_.eos_id(); }
  int pad_id() const { return model_.pad_id(); }
  int unk_id() const { return model_.unk_id(); }
  const TokenizerSettings& settings() const { return model_.settings(); }
  const std::vector<PieceInfo>& Pieces() const { return model_.Pieces(); }
  const std::vector<float>& Scores() const { return model_.Scores(); }
  const std::string& IdToPiece(int id) const { return model_.IdToPiece(id); }
  ByteLut MakeByteLut(int table_size) const { return model_.MakeByteLut(table_size); }
  const std::string& serialized_model() const { return model_.serialized_model(); }
  std::string VocabText() const { return model_.VocabText(); }

  // Ids of the text (no BOS/EOS added).
  std::vector<int> Encode(std::string_view text) const;
  // Ids -> text; control ids decode to nothing, ids outside the vocabulary are skipped.
  std::string Decode(const std::vector<int>& ids) const;
  // Piece strings of the text (e.g. "▁the"), for inspection.
  std::vector<std::string> EncodeAsPieces(std::string_view text) const;

 private:
  static Result<Tokenizer> FromModel(TokenizerModel model, const std::string& name);
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp_;
  TokenizerModel model_;
};

}  // namespace golfpack::data
