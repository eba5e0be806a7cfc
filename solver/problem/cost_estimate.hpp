// A rough estimate of a solve's wall time, made before it starts, so that a run far beyond the machine says so up
// front ("ctflow: note: …") instead of running silently; -monitor then reports the real progress. Per step and
// rank, summed over the leaves of the composition (d_head taken as N_y, TS substeps as one evaluation):
//   attention          N_h N_x (N_x / P) (c_pair + 4 N_y / r)      (scores, softmax and γ V: quadratic in N_x)
//   ffn<j>, mlp, …     2 (N_x / P) N_y² / r                         (a dense kernel)
//   other leaves       (N_x / P) N_y c_pair
// plus 10 µs per leaf (the fixed cost of a substep), with r = 2·10^10 flop/s (BLAS) and c_pair = 10 ns (one
// exponential and its bookkeeping), about what one core of the reference machine sustains (bench/RESULTS.md);
// adaptive runs count T/Δt^0 steps.
#pragma once
#include <string>

#include "solver/problem/problem.hpp"

namespace ctflow {

// Estimated seconds of problem.Solve() (after SetUp).
double EstimatedSeconds(const Problem &problem);
// Prints "ctflow: note: <what> is estimated to take …; -monitor shows its progress" on comm when the estimate
// exceeds ten minutes.
PetscErrorCode CostNote(MPI_Comm comm, double seconds, const std::string &what);

}  // namespace ctflow
