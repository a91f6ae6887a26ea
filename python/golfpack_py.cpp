// _golfpack: the compiled half of the `golfpack` Python module (pybind11).
// It wraps the library functions the CLI uses (plan/pack.h, plan/rd.h,
// gpk/artifact.h); the pure-Python package python/golfpack/__init__.py turns
// torch tensors into the float32 numpy arrays these functions take and back.
// No libtorch: only the std/Eigen/codec layers are linked.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codec/codecs.h"
#include "core/artifact.h"
#include "gpk/artifact.h"
#include "gpk/encodings.h"
#include "io/pg_names.h"
#include "io/safetensors.h"
#include "plan/pack.h"
#include "plan/bits_back.h"
#include "plan/rd.h"

namespace py = pybind11;
using namespace golfpack;

namespace {

// Status -> Python exception: bad input and bad bytes are ValueError, the rest RuntimeError.
[[noreturn]] void Throw(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kCorrupt:
    case StatusCode::kUnsupported:
    case StatusCode::kNotFound:
      throw py::value_error(s.ToString());
    default:
      throw std::runtime_error(s.ToString());
  }
}

template <typename T>
T Unwrap(Result<T> r) {
  if (!r.ok()) Throw(r.status());
  return std::move(r).value();
}

using F64Array = py::array_t<double, py::array::c_style | py::array::forcecast>;
using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

// A calibration: golfpack's one reader and writer of the file (plan/calibration.h).
struct Calibration {
  std::shared_ptr<encode::Hessians> hessians;
};

Eigen::MatrixXd ToMatrix(const std::string& site, const F64Array& a) {
  if (a.ndim() != 2 || a.shape(0) != a.shape(1))
    throw py::value_error("calibrate: Hessian for site '" + site + "' is not a square 2-D array");
  const auto n = static_cast<Eigen::Index>(a.shape(0));
  Eigen::MatrixXd m(n, n);
  const double* p = a.data();
  for (Eigen::Index r = 0; r < n; ++r)
    for (Eigen::Index c = 0; c < n; ++c) m(r, c) = p[r * n + c];
  return m;
}

Calibration MakeCalibration(const std::map<std::string, F64Array>& hessians, int64_t tokens,
                            const std::map<std::string, double>& sensitivity, int seq_len,
                            const std::vector<double>& token_counts) {
  if (tokens <= 0) throw py::value_error("calibrate: tokens must be positive (the tokens the Hessians sum over)");
  if (hessians.empty()) throw py::value_error("calibrate: no Hessians given");
  for (double c : token_counts)
    if (!(c >= 0) || !std::isfinite(c)) throw py::value_error("calibrate: token_counts must be finite and >= 0");
  std::map<std::string, Eigen::MatrixXd> sites;
  for (const auto& [site, a] : hessians) sites.emplace(site, ToMatrix(site, a));
  Calibration c;
  c.hessians = std::make_shared<encode::Hessians>(encode::Hessians::FromSites(std::move(sites), tokens, sensitivity, seq_len));
  c.hessians->set_token_counts(token_counts);
  return c;
}

// The file `golfpack calibrate` writes.
void SaveCalibration(const Calibration& c, const std::string& path) {
  Status s;
  {
    py::gil_scoped_release release;
    s = c.hessians->Save(path);
  }
  if (!s.ok()) Throw(s);
}

Calibration LoadCalibration(const std::string& path) {
  encode::Hessians h;
  {
    py::gil_scoped_release release;
    h = Unwrap(encode::Hessians::Load(path));
  }
  return {std::make_shared<encode::Hessians>(std::move(h))};
}

io::DType StoreDType(const std::string& d) {
  if (d == "F32" || d.empty()) return io::DType::kF32;
  if (d == "F16") return io::DType::kF16;
  if (d == "BF16") return io::DType::kBF16;
  throw py::value_error("pack: dtype '" + d + "' is not F32, F16 or BF16");
}

const char* TargetName(gpk::TargetDType d) {
  switch (d) {
    case gpk::TargetDType::kF16: return "F16";
    case gpk::TargetDType::kBF16: return "BF16";
    default: return "F32";
  }
}

py::list ShapeList(const std::vector<uint64_t>& s) {
  py::list l;
  for (auto v : s) l.append(v);
  return l;
}

// tensors: [(name, float32 array, original dtype "F32"/"F16"/"BF16")].
py::tuple Pack(const std::vector<std::tuple<std::string, F32Array, std::string>>& tensors,
               const Calibration* calib, uint64_t budget, const std::string& recipe_name, int64_t code_bytes,
               bool bits_back) {
  io::TensorFile model;
  model.tensors.reserve(tensors.size());
  for (const auto& [name, a, dtype] : tensors) {
    std::vector<int64_t> shape(a.shape(), a.shape() + a.ndim());
    model.tensors.push_back(io::Tensor::FromFloat32(name, shape, std::span<const float>(a.data(), a.size()), StoreDType(dtype)));
  }
  encode::Recipe recipe = Unwrap(encode::FindRecipe(recipe_name));
  std::optional<encode::RdResult> rd;
  encode::PackResult pr;
  encode::BitsBackReport bb;
  if (bits_back && recipe.name != "rd") throw py::value_error("pack: bits_back works with the rd recipes, not " + recipe.name);
  if (recipe.name == "rd") {
    if (!calib) throw py::value_error("pack: recipe rd needs a calibration (golfpack.calibrate)");
    if (budget == 0) throw py::value_error("pack: recipe rd needs budget > 0 (the counted bytes it fills)");
    encode::RdOptions ro;
    ro.budget = budget;
    ro.paths = recipe.rd_paths;  // "rd:grid,rowalloc": those paths only
    if (code_bytes >= 0) {
      ro.code_bytes = static_cast<uint64_t>(code_bytes);
      ro.code_bytes_set = true;
    }
    Result<encode::RdResult> r = InvalidArgument("unreached");
    {
      py::gil_scoped_release release;
      r = bits_back ? encode::PackRdBitsBack(model, *calib->hessians, ro, &bb) : encode::PackRd(model, *calib->hessians, ro);
    }
    rd = Unwrap(std::move(r));
    pr = rd->pack;
  } else {
    encode::PackOptions po;
    po.budget = budget;
    if (code_bytes >= 0) {
      po.code_bytes = static_cast<uint64_t>(code_bytes);
      po.code_bytes_set = true;
    }
    Result<encode::PackResult> r = InvalidArgument("unreached");
    {
      py::gil_scoped_release release;
      r = encode::Pack(model, calib ? calib->hessians.get() : nullptr, recipe, po);
    }
    pr = Unwrap(std::move(r));
  }
  py::dict report;
  report["recipe"] = recipe.name;
  report["counted_bytes"] = pr.counted_bytes;
  report["file_bytes"] = pr.file_bytes;
  report["code_bytes"] = pr.code_bytes;
  report["params"] = pr.params;
  report["bits_per_param"] = pr.params ? 8.0 * double(pr.file_bytes) / double(pr.params) : 0.0;
  report["budget"] = budget;
  report["seconds"] = pr.seconds;
  py::list rows;
  for (const auto& t : pr.tensors) {
    py::dict row;
    row["name"] = t.name;
    row["shape"] = ShapeList(t.shape);
    row["params"] = t.numel;
    row["encoder"] = t.encoder;
    row["encoding"] = t.encoding;
    const auto* e = gpk::FindEncoding(t.encoding);
    row["encoding_name"] = e ? e->name : "?";
    row["payload_bytes"] = t.payload_bytes;
    rows.append(row);
  }
  report["tensors"] = rows;
  // rd: more than 0.1% under the budget (every tensor already at its finest candidate).
  if (rd) report["underfilled"] = rd->underfilled;
  if (bits_back) report["bits_back_bytes"] = bb.carried;  // file bytes the MLP unit orders carry
  std::string rd_json = rd ? encode::RdReportJson(*rd) : std::string();
  return py::make_tuple(py::bytes(reinterpret_cast<const char*>(pr.bytes.data()), pr.bytes.size()), report, rd_json);
}

std::span<const uint8_t> Span(const py::buffer_info& b) {
  return {static_cast<const uint8_t*>(b.ptr), static_cast<size_t>(b.size * b.itemsize)};
}

// -> [(name, shape, float32 array, original dtype)]
py::list Unpack(const py::buffer& data) {
  encode::RegisterAllCodecs();
  py::buffer_info b = data.request();
  std::vector<uint8_t> bytes(Span(b).begin(), Span(b).end());  // a copy: the GIL is released while decoding
  std::vector<gpk::TensorInfo> infos;
  Result<std::vector<std::vector<float>>> all = Internal("unreached");
  {
    py::gil_scoped_release release;
    Result<gpk::Artifact> art = gpk::Artifact::Parse(bytes, "<bytes>");
    if (!art.ok()) {
      all = art.status();
    } else {
      infos = art->tensors();
      all = art->DecodeAll();
    }
  }
  std::vector<std::vector<float>> values = Unwrap(std::move(all));
  py::list out;
  for (size_t i = 0; i < infos.size(); ++i) {
    const auto& t = infos[i];
    std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
    py::array_t<float> a(shape);
    if (!values[i].empty()) std::memcpy(a.mutable_data(), values[i].data(), values[i].size() * sizeof(float));
    out.append(py::make_tuple(t.name, ShapeList(t.shape), a, TargetName(t.dtype)));
  }
  return out;
}

py::dict Inspect(const py::buffer& data, int64_t code_bytes) {
  encode::RegisterAllCodecs();
  py::buffer_info b = data.request();
  std::span<const uint8_t> bytes = Span(b);
  gpk::Artifact art = Unwrap(gpk::Artifact::Parse(bytes, "<bytes>"));
  const gpk::ByteAccount acct = gpk::AccountBytes(art);
  const uint64_t code = code_bytes >= 0 ? static_cast<uint64_t>(code_bytes) : encode::DecoderCodeBytes();
  py::dict d;
  d["format_version"] = art.version();
  d["file_bytes"] = art.file_size();
  d["code_bytes"] = code;
  d["counted_bytes"] = art.file_size() + code;
  py::dict meta;
  for (const auto& [k, v] : art.metadata()) meta[py::str(k)] = v;
  d["metadata"] = meta;
  py::list rows;
  uint64_t params = 0;
  for (size_t i = 0; i < art.tensors().size(); ++i) {
    const auto& t = art.tensors()[i];
    const auto* e = gpk::FindEncoding(t.encoding);
    py::dict row;
    row["name"] = t.name;
    row["shape"] = ShapeList(t.shape);
    row["params"] = t.numel;
    row["dtype"] = TargetName(t.dtype);
    row["encoding"] = e ? e->name : "?";
    row["encoding_id"] = t.encoding;
    row["section"] = t.section;
    row["codec"] = gpk::CodecName(art.sections()[t.section].codec);
    row["payload_bytes"] = t.length;
    row["bytes"] = acct.tensors[i];
    rows.append(row);
    params += t.numel;
  }
  d["tensors"] = rows;
  d["params"] = params;
  d["bits_per_param"] = params ? 8.0 * double(art.file_size()) / double(params) : 0.0;
  py::dict parts;
  for (const auto& [part, n] : acct.parts)
    if (part.rfind("tensor:", 0) != 0) parts[py::str(part)] = n;
  d["parts"] = parts;
  return d;
}

}  // namespace

PYBIND11_MODULE(_golfpack, m) {
  m.doc() = "golfpack's C++ packer (compiled half of the golfpack package)";

  py::class_<Calibration>(m, "Calibration")
      .def_property_readonly("tokens", [](const Calibration& c) { return c.hessians->tokens(); })
      .def_property_readonly("seq_len", [](const Calibration& c) { return c.hessians->seq_len(); })
      .def_property_readonly("token_counts", [](const Calibration& c) { return c.hessians->token_counts(); })
      .def_property_readonly("sites", [](const Calibration& c) {
        std::vector<std::string> s;
        for (const auto& [k, v] : c.hessians->sites()) s.push_back(k);
        return s;
      })
      .def_property_readonly("sensitivity", [](const Calibration& c) { return c.hessians->sensitivity(); })
      .def("__len__", [](const Calibration& c) { return c.hessians->size(); })
      .def("hessian", [](const Calibration& c, const std::string& weight_name) -> py::object {
        const Eigen::MatrixXd* h = c.hessians->ForWeight(weight_name);
        if (!h) return py::none();
        py::array_t<double> a({h->rows(), h->cols()});
        for (Eigen::Index r = 0; r < h->rows(); ++r)
          for (Eigen::Index col = 0; col < h->cols(); ++col) a.mutable_at(r, col) = (*h)(r, col);
        return a;
      }, py::arg("weight_name"), "H of the site a weight reads (via hessian_site), or None")
      .def("save", &SaveCalibration, py::arg("path"),
           "write the safetensors file `golfpack calibrate` writes (H stored as float32)")
      .def("__repr__", [](const Calibration& c) {
        return "<golfpack.Calibration " + std::to_string(c.hessians->size()) + " sites, " +
               std::to_string(c.hessians->tokens()) + " tokens" +
               (c.hessians->has_sensitivity() ? ", with sensitivities" : "") +
               (c.hessians->token_counts().empty() ? "" : ", with token counts") + ">";
      });

  m.def("hessian_site", &io::HessianSite, py::arg("weight_name"),
        "the Hessian site a PG weight reads ('' for tensors that are not linear weights)");
  m.def("calibrate", &MakeCalibration, py::arg("hessians"), py::arg("tokens"),
        py::arg("sensitivity") = std::map<std::string, double>{}, py::arg("seq_len") = 0,
        py::arg("token_counts") = std::vector<double>{});
  m.def("load_calibration", &LoadCalibration, py::arg("path"));
  m.def("pack", &Pack, py::arg("tensors"), py::arg("calib"), py::arg("budget"), py::arg("recipe"),
        py::arg("code_bytes"), py::arg("bits_back") = false);
  m.def("unpack", &Unpack, py::arg("data"));
  m.def("inspect", &Inspect, py::arg("data"), py::arg("code_bytes") = -1);
  m.def("recipe_names", &encode::RecipeNames);
  m.def("decoder_code_bytes", &encode::DecoderCodeBytes);
}
