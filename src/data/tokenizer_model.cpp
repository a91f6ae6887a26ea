#include "data/tokenizer_model.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "core/file_util.h"

namespace golfpack::data {
namespace {

// ---------------------------------------------------------------------------
// A minimal protobuf wire-format reader for the ModelProto fields we need
// (sentencepiece_model.pb.h is not installed by libsentencepiece-dev).

class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  bool ReadVarint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      result |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }

  // Reads one field; on success sets number/wire type and the payload.
  bool Next(uint32_t* field, uint32_t* wire, uint64_t* varint, std::string_view* bytes,
            uint32_t* fixed32) {
    uint64_t key = 0;
    if (!ReadVarint(&key)) return false;
    *field = static_cast<uint32_t>(key >> 3);
    *wire = static_cast<uint32_t>(key & 7);
    if (*field == 0) return false;
    switch (*wire) {
      case 0: return ReadVarint(varint);
      case 1:
        if (data_.size() - pos_ < 8) return false;
        pos_ += 8;
        return true;
      case 2: {
        uint64_t len = 0;
        if (!ReadVarint(&len) || len > data_.size() - pos_) return false;
        *bytes = data_.substr(pos_, static_cast<size_t>(len));
        pos_ += static_cast<size_t>(len);
        return true;
      }
      case 5: {
        if (data_.size() - pos_ < 4) return false;
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
        *fixed32 = v;
        pos_ += 4;
        return true;
      }
      default: return false;  // groups (3/4) never appear in a ModelProto
    }
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

struct ParsedModel {
  std::vector<PieceInfo> pieces;
  std::vector<float> scores;
  TokenizerSettings settings;
};

float FloatFromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

bool ParsePiece(std::string_view msg, PieceInfo* info, float* score) {
  WireReader r(msg);
  info->kind = PieceKind::kNormal;
  *score = 0.0f;
  while (!r.done()) {
    uint32_t field = 0, wire = 0, f32 = 0;
    uint64_t v = 0;
    std::string_view b;
    if (!r.Next(&field, &wire, &v, &b, &f32)) return false;
    if (field == 1 && wire == 2) {
      info->piece.assign(b);
    } else if (field == 2 && wire == 5) {
      *score = FloatFromBits(f32);
    } else if (field == 3 && wire == 0) {
      switch (v) {
        case 1: info->kind = PieceKind::kNormal; break;
        case 2: info->kind = PieceKind::kUnknown; break;
        case 3: info->kind = PieceKind::kControl; break;
        case 4: info->kind = PieceKind::kUserDefined; break;
        case 5: info->kind = PieceKind::kUnused; break;
        case 6: info->kind = PieceKind::kByte; break;
        default: return false;
      }
    }
  }
  return true;
}

bool ParseTrainerSpec(std::string_view msg, TokenizerSettings* s) {
  WireReader r(msg);
  while (!r.done()) {
    uint32_t field = 0, wire = 0, f32 = 0;
    uint64_t v = 0;
    std::string_view b;
    if (!r.Next(&field, &wire, &v, &b, &f32)) return false;
    const auto i32 = static_cast<int32_t>(static_cast<uint32_t>(v));
    if (wire == 0) {
      switch (field) {
        case 3:
          switch (v) {
            case 1: s->model_type = "unigram"; break;
            case 2: s->model_type = "bpe"; break;
            case 3: s->model_type = "word"; break;
            case 4: s->model_type = "char"; break;
            default: s->model_type = "type" + std::to_string(v);
          }
          break;
        case 4: s->vocab_size = i32; break;
        case 25: s->split_digits = v != 0; break;
        case 33: s->hard_vocab_limit = v != 0; break;
        case 35: s->byte_fallback = v != 0; break;
        case 40: s->unk_id = i32; break;
        case 41: s->bos_id = i32; break;
        case 42: s->eos_id = i32; break;
        case 43: s->pad_id = i32; break;
        default: break;
      }
    } else if (wire == 5 && field == 10) {
      s->character_coverage = FloatFromBits(f32);
    }
  }
  return true;
}

bool ParseNormalizerSpec(std::string_view msg, TokenizerSettings* s) {
  WireReader r(msg);
  while (!r.done()) {
    uint32_t field = 0, wire = 0, f32 = 0;
    uint64_t v = 0;
    std::string_view b;
    if (!r.Next(&field, &wire, &v, &b, &f32)) return false;
    if (field == 1 && wire == 2) s->normalization_rule_name.assign(b);
    if (field == 3 && wire == 0) s->add_dummy_prefix = v != 0;
    if (field == 4 && wire == 0) s->remove_extra_whitespaces = v != 0;
  }
  return true;
}

bool ParseModelProto(std::string_view data, ParsedModel* out) {
  TokenizerSettings s;
  s.model_type = "unigram";  // proto defaults
  s.vocab_size = 8000;
  WireReader r(data);
  while (!r.done()) {
    uint32_t field = 0, wire = 0, f32 = 0;
    uint64_t v = 0;
    std::string_view b;
    if (!r.Next(&field, &wire, &v, &b, &f32)) return false;
    if (wire != 2) continue;
    if (field == 1) {
      PieceInfo info;
      float score = 0;
      if (!ParsePiece(b, &info, &score)) return false;
      out->pieces.push_back(std::move(info));
      out->scores.push_back(score);
    } else if (field == 2) {
      if (!ParseTrainerSpec(b, &s)) return false;
    } else if (field == 3) {
      if (!ParseNormalizerSpec(b, &s)) return false;
    }
  }
  out->settings = s;
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------

TokenizerSettings TokenizerSettings::ParameterGolf(int vocab_size) {
  TokenizerSettings s;
  s.model_type = "bpe";
  s.vocab_size = vocab_size;
  s.byte_fallback = true;
  s.split_digits = true;
  s.normalization_rule_name = "nmt_nfkc";
  s.add_dummy_prefix = false;
  s.remove_extra_whitespaces = true;
  s.character_coverage = 0.999f;
  s.hard_vocab_limit = false;
  s.pad_id = 0;
  s.bos_id = 1;
  s.eos_id = 2;
  s.unk_id = 3;
  return s;
}

std::vector<std::string> TokenizerSettings::DiffFromParameterGolf() const {
  const TokenizerSettings pg = ParameterGolf(vocab_size);
  std::vector<std::string> diffs;
  auto cmp = [&](const char* name, const auto& got, const auto& want) {
    if (got != want) {
      std::ostringstream os;
      os << std::boolalpha << name << ": got " << got << ", want " << want;
      diffs.push_back(os.str());
    }
  };
  cmp("model_type", model_type, pg.model_type);
  cmp("byte_fallback", byte_fallback, pg.byte_fallback);
  cmp("split_digits", split_digits, pg.split_digits);
  cmp("normalization_rule_name", normalization_rule_name, pg.normalization_rule_name);
  cmp("add_dummy_prefix", add_dummy_prefix, pg.add_dummy_prefix);
  if (std::fabs(character_coverage - pg.character_coverage) > 1e-6f) {
    cmp("character_coverage", character_coverage, pg.character_coverage);
  }
  cmp("pad_id", pad_id, pg.pad_id);
  cmp("bos_id", bos_id, pg.bos_id);
  cmp("eos_id", eos_id, pg.eos_id);
  cmp("unk_id", unk_id, pg.unk_id);
  return diffs;
}

Result<TokenizerModel> TokenizerModel::Load(const std::string& model_path) {
  auto bytes = ReadFileBytes(model_path);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) {
      return NotFound(model_path + ": tokenizer model not found");
    }
    return bytes.status();
  }
  return FromSerialized(std::string(bytes->begin(), bytes->end()), model_path);
}

Result<TokenizerModel> TokenizerModel::FromSerialized(std::string serialized, const std::string& name) {
  ParsedModel parsed;
  if (!ParseModelProto(serialized, &parsed)) {
    return Corrupt(name + ": not a sentencepiece model (malformed protobuf)");
  }
  if (parsed.pieces.empty()) return Corrupt(name + ": not a sentencepiece model (no pieces)");
  TokenizerModel t;
  t.serialized_ = std::move(serialized);
  t.settings_ = std::move(parsed.settings);
  t.pieces_ = std::move(parsed.pieces);
  t.scores_ = std::move(parsed.scores);
  return t;
}

std::string TokenizerModel::VocabText() const {
  std::ostringstream os;
  for (size_t i = 0; i < pieces_.size(); ++i) os << pieces_[i].piece << '\t' << scores_[i] << '\n';
  return os.str();
}

}  // namespace golfpack::data
