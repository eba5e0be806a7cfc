// The files of `ctflow -train` (docs/training.md), each written to FILE.part by rank 0 and renamed when complete:
//   controls (-train_out)      the starting controls file with every parameter replaced by the trained values, so
//                              `ctflow -controls FILE` runs it (every hyper-parameter and attribute is kept), and
//                              the run that trained them as attributes of / (TrainingRecord);
//   checkpoint                 the same, plus /training: attributes epoch (completed), seed; the optimiser's state
//   (-train_checkpoint)        /training/optimizer/<name> and the history so far /training/history/<series>;
//   history (-train_history)   1-D datasets /epoch, /train_loss, /test_loss, /test_accuracy, … of equal length.
#pragma once
#include <petscsys.h>

#include <string>
#include <utility>
#include <vector>

#include "discretization/controls_arrays.hpp"

namespace ctflow {

// Named series of equal length, one entry per epoch.
struct TrainingHistory {
  std::vector<std::pair<std::string, std::vector<PetscReal>>> series;
  std::vector<PetscReal> &operator[](const std::string &name);
  size_t Length() const { return series.empty() ? 0 : series.front().second.size(); }
};

struct TrainingState {
  PetscInt epoch = 0;  // epochs completed
  std::vector<std::pair<std::string, std::vector<PetscReal> *>> optimizer;
  TrainingHistory *history = nullptr;
};

// The run that wrote a trained controls file or checkpoint, its attributes of /: training_options (PETSc's options
// database: the command line, option files and PETSC_OPTIONS), training_ctflow_version, training_epochs (completed)
// and training_loss (the last epoch's training loss; absent before the first epoch).
struct TrainingRecord {
  std::string options;
  PetscInt epochs = 0;
  const std::vector<PetscReal> *train_loss = nullptr;  // the history's series, one entry per epoch
};
// Not collective. The record of this process's options and the history so far.
PetscErrorCode TrainingRecordGet(const TrainingHistory &history, TrainingRecord *record);

// Collective. The controls file `path`: `source` (a controls file) with the arrays of theta written over its own and
// the record's attributes; with state, a checkpoint.
PetscErrorCode ControlsFileWrite(MPI_Comm comm, const std::string &source, const ControlsArrays &theta, const std::string &path,
                                 const TrainingRecord &record, const TrainingState *state = nullptr);
// Collective. Reads a checkpoint: theta (whose names and shapes it must have), the optimiser's state and the history.
PetscErrorCode CheckpointRead(MPI_Comm comm, const std::string &path, ControlsArrays *theta, TrainingState *state);
// Collective. The history file.
PetscErrorCode HistoryWrite(MPI_Comm comm, const std::string &path, const TrainingHistory &history);

}  // namespace ctflow
