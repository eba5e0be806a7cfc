#include "solver/training/dataset.hpp"

#include "discretization/hdf5_input.hpp"

namespace ctflow {

namespace {

std::string Shape(const std::vector<PetscInt> &s) {
  std::vector<hsize_t> h(s.begin(), s.end());
  return ShapeString(h);
}

// The integer dataset /labels (B,) of any integer type.
PetscErrorCode ReadLabels(MPI_Comm comm, const std::string &path, const std::string &what, std::vector<PetscInt> *labels) {
  PetscFunctionBeginUser;
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t ds = file >= 0 ? H5Dopen2(file, "/labels", H5P_DEFAULT) : -1;
  hid_t type = ds >= 0 ? H5Dget_type(ds) : -1, space = ds >= 0 ? H5Dget_space(ds) : -1;
  const bool integer = type >= 0 && H5Tget_class(type) == H5T_INTEGER;
  const int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  hsize_t n = 0;
  if (rank == 1) H5Sget_simple_extent_dims(space, &n, nullptr);
  std::vector<long long> values(integer && rank == 1 ? n : 0);
  const bool ok = integer && rank == 1 && (n == 0 || H5Dread(ds, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  if (ds >= 0) H5Dclose(ds);
  if (file >= 0) H5Fclose(file);
  PetscCheck(integer, comm, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s': dataset '/labels' must be of an integer type", what.c_str(), path.c_str());
  PetscCheck(rank == 1, comm, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s': dataset '/labels' must have shape (B,)", what.c_str(), path.c_str());
  PetscCheck(ok, comm, PETSC_ERR_FILE_READ, "%s file '%s': reading dataset '/labels' failed", what.c_str(), path.c_str());
  for (size_t i = 0; i < values.size(); ++i)  // beyond PetscInt a label would wrap onto another class (CheckLabels: the classes)
    PetscCheck(values[i] >= PETSC_MIN_INT && values[i] <= PETSC_MAX_INT, comm, PETSC_ERR_FILE_UNEXPECTED,
               "%s file '%s': label %lld of sample %zu is out of range (a class index 0 … %" PetscInt_FMT ")", what.c_str(), path.c_str(), values[i],
               i, PETSC_MAX_INT);
  PetscCallCXX(labels->assign(values.begin(), values.end()));
  PetscFunctionReturn(0);
}

}  // namespace

PetscErrorCode Dataset::Load(MPI_Comm comm, const std::string &path, const std::string &what) {
  H5Input in;
  std::vector<hsize_t> shape;
  PetscFunctionBeginUser;
  path_ = path, what_ = what;
  PetscCall(H5Input::Open(comm, path, what, &in));
  const bool has_inputs = in.Has("/inputs"), has_images = in.Has("/images"), has_targets = in.Has("/targets"), has_labels = in.Has("/labels");
  PetscCheck(has_inputs != has_images, comm, PETSC_ERR_FILE_UNEXPECTED,
             "%s file '%s' needs exactly one of /inputs (B, N_x, N_y) and /images (B, C, H, W)", what.c_str(), path.c_str());
  PetscCheck(has_targets != has_labels, comm, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s' needs exactly one of /targets (B, N_x, N_y) and /labels (B,)",
             what.c_str(), path.c_str());
  images_ = has_images;
  const char *input = images_ ? "/images" : "/inputs";
  PetscCall(in.Shape(input, &shape));
  PetscCheck(shape.size() == (images_ ? 4u : 3u), comm, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s': dataset '%s' has shape %s, expected %s",
             what.c_str(), path.c_str(), input, ShapeString(shape).c_str(), images_ ? "(B, C, H, W)" : "(B, N_x, N_y)");
  size_ = (PetscInt)shape[0];
  PetscCheck(size_ > 0, comm, PETSC_ERR_FILE_UNEXPECTED, "%s file '%s' is empty: dataset '%s' has shape %s", what.c_str(), path.c_str(), input,
             ShapeString(shape).c_str());
  PetscCallCXX(input_shape_.assign(shape.begin() + 1, shape.end()));
  input_size_ = 1;
  for (PetscInt s : input_shape_) input_size_ *= s;
  PetscCall(in.Read(input, shape, images_ ? "(B, C, H, W)" : "(B, N_x, N_y)", &inputs_));
  if (has_labels) {
    PetscCall(ReadLabels(comm, path, what, &labels_));
    PetscCheck((PetscInt)labels_.size() == size_, comm, PETSC_ERR_FILE_UNEXPECTED,
               "%s file '%s': /labels has %zu entries but %s has %" PetscInt_FMT " samples", what.c_str(), path.c_str(), labels_.size(), input,
               size_);
  } else {
    PetscCall(in.Shape("/targets", &shape));
    PetscCheck(shape.size() == 3 && (PetscInt)shape[0] == size_, comm, PETSC_ERR_FILE_UNEXPECTED,
               "%s file '%s': dataset '/targets' has shape %s, expected (%" PetscInt_FMT ", N_x, N_y)", what.c_str(), path.c_str(),
               ShapeString(shape).c_str(), size_);
    PetscCallCXX(target_shape_.assign(shape.begin() + 1, shape.end()));
    target_size_ = target_shape_[0] * target_shape_[1];
    PetscCall(in.Read("/targets", shape, "(B, N_x, N_y)", &targets_));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Dataset::CheckLabels(MPI_Comm comm, PetscInt classes) const {
  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < size_; ++i)
    PetscCheck(labels_[i] >= 0 && labels_[i] < classes, comm, PETSC_ERR_FILE_UNEXPECTED,
               "%s file '%s': label %" PetscInt_FMT " of sample %" PetscInt_FMT " is out of range: the head has %" PetscInt_FMT
               " classes (0 … %" PetscInt_FMT ")",
               what_.c_str(), path_.c_str(), labels_[i], i, classes, classes - 1);
  PetscFunctionReturn(0);
}

PetscErrorCode Dataset::CheckShapes(MPI_Comm comm, const std::vector<PetscInt> &input, const std::vector<PetscInt> &target,
                                    const char meaning[]) const {
  PetscFunctionBeginUser;
  PetscCheck(input_shape_ == input, comm, PETSC_ERR_USER_INPUT, "%s file '%s': %s %s have shape %s, but the controls need %s %s", what_.c_str(),
             path_.c_str(), images_ ? "the images" : "the inputs", images_ ? "(C, H, W)" : "(N_x, N_y)", Shape(input_shape_).c_str(),
             Shape(input).c_str(), meaning);
  PetscCheck(Labels() || target_shape_ == target, comm, PETSC_ERR_USER_INPUT, "%s file '%s': the targets have shape %s, but the final state is %s",
             what_.c_str(), path_.c_str(), Shape(target_shape_).c_str(), Shape(target).c_str());
  PetscFunctionReturn(0);
}

}  // namespace ctflow
