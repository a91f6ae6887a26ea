#include "data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "core/file_util.h"

// Exported by libsentencepiece but not declared in its installed headers.
namespace sentencepiece::logging {
int GetMinLogLevel();
void SetMinLogLevel(int v);
}  // namespace sentencepiece::logging

namespace golfpack::data {
namespace {

// ---------------------------------------------------------------------------
// Feeding the trainer.

bool IsBlank(std::string_view s) { return s.find_first_not_of(" \t\r\f\v") == std::string_view::npos; }

class DocPieceIterator : public sentencepiece::SentenceIterator {
 public:
  explicit DocPieceIterator(std::span<const Document* const> docs) : docs_(docs) { Advance(); }
  bool done() const override { return done_; }
  void Next() override { Advance(); }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }
  uint64_t count() const { return count_; }

 private:
  void Advance() {
    while (piece_idx_ >= pieces_.size()) {
      if (doc_idx_ >= docs_.size()) {
        done_ = true;
        value_.clear();
        return;
      }
      pieces_ = SplitTrainingText(docs_[doc_idx_++]->text);
      piece_idx_ = 0;
    }
    value_.assign(pieces_[piece_idx_++]);
    ++count_;
  }

  std::span<const Document* const> docs_;
  size_t doc_idx_ = 0;
  std::vector<std::string_view> pieces_;
  size_t piece_idx_ = 0;
  std::string value_;
  bool done_ = false;
  uint64_t count_ = 0;
};

std::mutex& SpmLogMutex() {
  static std::mutex m;
  return m;
}

}  // namespace


std::vector<std::string_view> SplitTrainingText(std::string_view text, size_t max_bytes) {
  if (max_bytes < 4) max_bytes = 4;  // room for one UTF-8 character
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find_first_of("\r\n", pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    while (!line.empty()) {
      // Trim surrounding blanks so cut points never produce blank pieces.
      const size_t first = line.find_first_not_of(" \t\f\v");
      if (first == std::string_view::npos) break;
      line.remove_prefix(first);
      const size_t last = line.find_last_not_of(" \t\f\v");
      line = line.substr(0, last + 1);
      if (line.size() <= max_bytes) {
        out.push_back(line);
        break;
      }
      size_t cut = line.find_last_of(" \t", max_bytes);
      if (cut == std::string_view::npos || cut == 0) {
        cut = max_bytes;  // no space: cut at a character boundary
        while (cut > 0 && (static_cast<uint8_t>(line[cut]) & 0xC0) == 0x80) --cut;
        if (cut == 0) cut = max_bytes;
      }
      std::string_view head = line.substr(0, cut);
      if (!IsBlank(head)) out.push_back(head);
      line.remove_prefix(cut);
    }
  }
  return out;
}

Status TrainTokenizer(const std::vector<Document>& docs, const std::string& model_path,
                      const TokenizerTrainOptions& options) {
  std::vector<const Document*> ptrs;
  ptrs.reserve(docs.size());
  for (const Document& d : docs) ptrs.push_back(&d);
  return TrainTokenizer(std::span<const Document* const>(ptrs), model_path, options);
}

Status TrainTokenizer(std::span<const Document* const> docs, const std::string& model_path,
                      const TokenizerTrainOptions& options) {
  if (docs.empty()) return InvalidArgument("tokenizer training: no documents");
  if (options.vocab_size < 1 || options.vocab_size > 65536) {
    return InvalidArgument("tokenizer training: vocab_size " + std::to_string(options.vocab_size) +
                           " out of range [1, 65536]");
  }
  if (model_path.empty()) return InvalidArgument("tokenizer training: empty model path");
  std::unordered_map<std::string, std::string> args = {
      // no model_prefix: the model comes back serialized and is written here
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"normalization_rule_name", "nmt_nfkc"},
      {"add_dummy_prefix", "false"},
      {"character_coverage", "0.999"},
      {"pad_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"unk_id", "3"},
      {"hard_vocab_limit", "false"},
      {"num_threads", std::to_string(std::max(1, options.num_threads))},
  };
  if (options.input_sentence_size > 0) {
    args["input_sentence_size"] = std::to_string(options.input_sentence_size);
  }

  DocPieceIterator it(docs);
  if (it.done()) return InvalidArgument("tokenizer training: documents contain no text");
  std::string serialized;
  sentencepiece::util::Status st;
  {
    std::lock_guard<std::mutex> lock(SpmLogMutex());
    const int old_level = sentencepiece::logging::GetMinLogLevel();
    sentencepiece::logging::SetMinLogLevel(2);  // errors only; the library never prints
    st = sentencepiece::SentencePieceTrainer::Train(args, &it, &serialized);
    sentencepiece::logging::SetMinLogLevel(old_level);
  }
  if (!st.ok()) return InvalidArgument(std::string("tokenizer training (sentencepiece): ") + st.ToString());
  if (serialized.empty()) return Internal("tokenizer training: sentencepiece returned an empty model");
  return WriteFileAtomic(model_path, std::span<const uint8_t>(
                                         reinterpret_cast<const uint8_t*>(serialized.data()),
                                         serialized.size()));
}

// ---------------------------------------------------------------------------

Result<Tokenizer> Tokenizer::Load(const std::string& model_path) {
  GP_ASSIGN_OR_RETURN(TokenizerModel model, TokenizerModel::Load(model_path));
  return FromModel(std::move(model), model_path);
}

Result<Tokenizer> Tokenizer::FromSerialized(std::string serialized, const std::string& name) {
  GP_ASSIGN_OR_RETURN(TokenizerModel model, TokenizerModel::FromSerialized(std::move(serialized), name));
  return FromModel(std::move(model), name);
}

Result<Tokenizer> Tokenizer::FromModel(TokenizerModel model, const std::string& name) {
  auto sp = std::make_shared<sentencepiece::SentencePieceProcessor>();
  sentencepiece::util::Status st = sp->LoadFromSerializedProto(model.serialized_model());
  if (!st.ok()) return Corrupt(name + ": not a usable sentencepiece model: " + st.ToString());
  if (sp->GetPieceSize() != model.vocab_size()) {
    return Corrupt(name + ": piece count mismatch between model and parser");
  }
  Tokenizer t;
  t.sp_ = std::move(sp);
  t.model_ = std::move(model);
  return t;
}

std::vector<int> Tokenizer::Encode(std::string_view text) const {
  std::vector<int> ids;
  sp_->Encode(text, &ids).IgnoreError();  // fails only for an unloaded model
  return ids;
}

std::vector<std::string> Tokenizer::EncodeAsPieces(std::string_view text) const {
  std::vector<std::string> pieces;
  sp_->Encode(text, &pieces).IgnoreError();
  return pieces;
}

std::string Tokenizer::Decode(const std::vector<int>& ids) const {
  std::string out;
  // Out-of-range ids make sentencepiece fail; decode the valid ones.
  std::vector<int> valid;
  valid.reserve(ids.size());
  for (int id : ids) {
    if (id >= 0 && id < vocab_size()) valid.push_back(id);
  }
  sp_->Decode(valid, &out).IgnoreError();
  return out;
}

}  // namespace golfpack::data
