#include "solver/training/training_files.hpp"

#include <hdf5.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "discretization/hdf5_attributes.hpp"
#include "discretization/hdf5_input.hpp"
#include "discretization/hdf5_links.hpp"

namespace ctflow {

namespace {

bool CopyBytes(const std::string &from, const std::string &to) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out << in.rdbuf();
  return in.good() || in.eof() ? out.good() : false;
}

// Overwrites an existing dataset or attribute (a name /a/b/leaf whose leaf is an attribute of /a/b).
bool Overwrite(hid_t file, const ControlsArray &a) {
  herr_t status = -1;
  if (a.attribute) {
    const size_t last = a.name.find_last_of('/');
    const std::string parent = last == 0 ? "/" : a.name.substr(0, last), leaf = a.name.substr(last + 1);
    hid_t object = H5Oopen(file, parent.c_str(), H5P_DEFAULT);  // HDF5 1.10 cannot write through H5Aopen_by_name alone
    hid_t attr = object >= 0 ? H5Aopen(object, leaf.c_str(), H5P_DEFAULT) : -1;
    if (attr >= 0) status = H5Awrite(attr, H5T_NATIVE_DOUBLE, a.values.data()), H5Aclose(attr);
    if (object >= 0) H5Oclose(object);
  } else {
    hid_t ds = H5Dopen2(file, a.name.c_str(), H5P_DEFAULT);
    if (ds >= 0) status = H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.values.data()), H5Dclose(ds);
  }
  return status >= 0;
}

bool WriteVector(hid_t file, const std::string &name, const std::vector<PetscReal> &v) {
  const hsize_t n = v.size();
  hid_t space = H5Screate_simple(1, &n, nullptr), lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  if (H5PathExists(file, name)) H5Ldelete(file, name.c_str(), H5P_DEFAULT);
  hid_t ds = H5Dcreate2(file, name.c_str(), H5T_IEEE_F64LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  const bool ok = ds >= 0 && (n == 0 || H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
  if (ds >= 0) H5Dclose(ds);
  H5Pclose(lcpl);
  H5Sclose(space);
  return ok;
}

bool WriteState(hid_t file, const TrainingState &s) {
  bool ok = true;
  for (const auto &[name, v] : s.optimizer) ok = ok && WriteVector(file, "/training/optimizer/" + name, *v);
  for (const auto &[name, v] : s.history->series) ok = ok && WriteVector(file, "/training/history/" + name, v);
  return ok && H5AttributeWrite(file, "/training", "epoch", (PetscReal)s.epoch);
}

bool WriteRecord(hid_t file, const TrainingRecord &r) {
  bool ok = H5AttributeWrite(file, "/", "training_options", r.options) && H5AttributeWrite(file, "/", "training_ctflow_version", CTFLOW_VERSION) &&
            H5AttributeWrite(file, "/", "training_epochs", (PetscReal)r.epochs);
  if (r.train_loss && !r.train_loss->empty()) ok = ok && H5AttributeWrite(file, "/", "training_loss", r.train_loss->back());
  else if (ok && H5Aexists(file, "training_loss") > 0) ok = H5Adelete(file, "training_loss") >= 0;  // a fine-tuned file's earlier run
  return ok;
}

// Rank 0 runs write(part) and renames part to path; the outcome is collective.
template <typename Write>
PetscErrorCode Atomically(MPI_Comm comm, const std::string &path, const char what[], Write write) {
  PetscMPIInt rank;
  int ok = 1;
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  const std::string part = path + ".part";
  if (rank == 0) {
    ok = write(part) && std::rename(part.c_str(), path.c_str()) == 0;
    if (!ok) std::remove(part.c_str());
  }
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  PetscCheck(ok, comm, PETSC_ERR_FILE_WRITE, "cannot write the %s '%s'", what, path.c_str());
  PetscFunctionReturn(0);
}

}  // namespace

std::vector<PetscReal> &TrainingHistory::operator[](const std::string &name) {
  for (auto &s : series)
    if (s.first == name) return s.second;
  series.emplace_back(name, std::vector<PetscReal>());
  return series.back().second;
}

PetscErrorCode TrainingRecordGet(const TrainingHistory &history, TrainingRecord *record) {
  char *options;
  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetAll(nullptr, &options));
  PetscCallCXX(record->options = options);
  PetscCall(PetscFree(options));
  record->epochs = (PetscInt)history.Length();
  record->train_loss = nullptr;
  for (const auto &[name, v] : history.series)
    if (name == "train_loss") record->train_loss = &v;
  PetscFunctionReturn(0);
}

PetscErrorCode ControlsFileWrite(MPI_Comm comm, const std::string &source, const ControlsArrays &theta, const std::string &path,
                                 const TrainingRecord &record, const TrainingState *state) {
  PetscFunctionBeginUser;
  PetscCall(Atomically(comm, path, state ? "checkpoint" : "trained controls file", [&](const std::string &part) {
    if (!CopyBytes(source, part)) return false;
    hid_t file = H5Fopen(part.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    bool ok = file >= 0;
    for (const ControlsArray &a : theta.Arrays()) ok = ok && Overwrite(file, a);
    if (ok && H5Lexists(file, "/training", H5P_DEFAULT) > 0) ok = H5Ldelete(file, "/training", H5P_DEFAULT) >= 0;
    ok = ok && WriteRecord(file, record);
    if (ok && state) ok = WriteState(file, *state);
    if (file >= 0) ok = H5Fclose(file) >= 0 && ok;
    return ok;
  }));
  PetscFunctionReturn(0);
}

PetscErrorCode CheckpointRead(MPI_Comm comm, const std::string &path, ControlsArrays *theta, TrainingState *state) {
  H5Input in;
  PetscReal epoch;
  std::vector<hsize_t> shape;
  std::vector<PetscReal> values;
  PetscFunctionBeginUser;
  PetscCall(H5Input::Open(comm, path, "-train_checkpoint", &in));
  PetscCheck(in.Has("/training"), comm, PETSC_ERR_FILE_UNEXPECTED, "-train_checkpoint file '%s' has no group /training: not a checkpoint",
             path.c_str());
  for (ControlsArray &a : theta->Arrays()) {
    if (a.attribute) {
      const size_t last = a.name.find_last_of('/');
      PetscCall(in.ReadAttribute(last == 0 ? "/" : a.name.substr(0, last), a.name.substr(last + 1).c_str(), &a.values[0], nullptr));
    } else {
      PetscCall(in.Read(a.name, a.shape, "(the controls' shape)", &values));
      std::copy(values.begin(), values.end(), a.values.begin());
    }
  }
  PetscCall(in.ReadAttribute("/training", "epoch", &epoch, nullptr));
  state->epoch = (PetscInt)epoch;
  for (auto &[name, v] : state->optimizer) {
    const std::string ds = "/training/optimizer/" + name;
    PetscCall(in.Shape(ds, &shape));
    PetscCall(in.Read(ds, shape, "(as saved)", v));
  }
  state->history->series.clear();
  for (const char *name : {"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "gradient_norm", "learning_rate", "seconds"}) {
    const std::string ds = std::string("/training/history/") + name;
    if (!in.Has(ds)) continue;
    PetscCall(in.Shape(ds, &shape));
    PetscCall(in.Read(ds, shape, "(epochs,)", &(*state->history)[name]));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode HistoryWrite(MPI_Comm comm, const std::string &path, const TrainingHistory &history) {
  PetscFunctionBeginUser;
  PetscCall(Atomically(comm, path, "-train_history file", [&](const std::string &part) {
    hid_t file = H5Fcreate(part.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    bool ok = file >= 0;
    for (const auto &[name, v] : history.series) ok = ok && WriteVector(file, "/" + name, v);
    if (file >= 0) ok = H5Fclose(file) >= 0 && ok;
    return ok;
  }));
  PetscFunctionReturn(0);
}

}  // namespace ctflow
