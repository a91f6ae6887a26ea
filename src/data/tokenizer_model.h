// A sentencepiece .model read without the sentencepiece library: the pieces,
// their kinds and scores, and the training settings. Everything evaluation
// needs (the byte-count table), usable in processes that also load libtorch.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "data/byte_lut.h"

namespace golfpack::data {

// The settings stored in a model's TrainerSpec / NormalizerSpec (proto defaults
// where a field is absent).
struct TokenizerSettings {
  std::string model_type;               // "unigram", "bpe", "word", "char"
  int vocab_size = 0;                   // as requested at training time
  bool byte_fallback = false;
  bool split_digits = false;
  std::string normalization_rule_name;  // e.g. "nmt_nfkc"
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  float character_coverage = 0.9995f;
  bool hard_vocab_limit = true;
  int pad_id = -1, bos_id = 1, eos_id = 2, unk_id = 0;

  // The Parameter Golf tokenizer settings (data/download_hf_docs_and_tokenize.py).
  static TokenizerSettings ParameterGolf(int vocab_size = 1024);
  // "field: got X, want Y" for every setting that differs from
  // ParameterGolf(vocab_size) (hard_vocab_limit and remove_extra_whitespaces
  // are not compared); empty when they match.
  std::vector<std::string> DiffFromParameterGolf() const;
};

class TokenizerModel {
 public:
  // NotFound for a missing file, Corrupt when the bytes are not a sentencepiece model.
  static Result<TokenizerModel> Load(const std::string& model_path);
  // Same from the bytes of a .model file; `name` is used in messages.
  static Result<TokenizerModel> FromSerialized(std::string serialized, const std::string& name);

  int vocab_size() const { return static_cast<int>(pieces_.size()); }
  int bos_id() const { return settings_.bos_id; }
  int eos_id() const { return settings_.eos_id; }
  int pad_id() const { return settings_.pad_id; }
  int unk_id() const { return settings_.unk_id; }
  const TokenizerSettings& settings() const { return settings_; }
  const std::vector<PieceInfo>& Pieces() const { return pieces_; }
  const std::vector<float>& Scores() const { return scores_; }
  const std::string& IdToPiece(int id) const { return pieces_.at(static_cast<size_t>(id)).piece; }
  ByteLut MakeByteLut(int table_size) const { return BuildByteLut(pieces_, table_size); }
  // The .model bytes.
  const std::string& serialized_model() const { return serialized_; }
  // The .vocab text sentencepiece writes next to a model: "piece\tscore\n" per id.
  std::string VocabText() const;

 private:
  std::string serialized_;
  TokenizerSettings settings_;
  std::vector<PieceInfo> pieces_;
  std::vector<float> scores_;
};

}  // namespace golfpack::data
