// The measurement behind discretization/base/mpi_transport.hpp's choice: MPI_Allreduce (in place, sum of doubles) of
// a range of sizes, including a training step's gradient (the digits ViT's 18,093 values), on the transport ctflow
// selects. Run it on each copy mechanism and compare:
//
//   mpirun -n 2 build/bench/bench_allreduce [doubles ...]
//   OMPI_MCA_btl_vader_single_copy_mechanism=cma mpirun -n 2 build/bench/bench_allreduce
//
// prints, per size, the best and the median time of one allreduce (bench/RESULTS.md).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "discretization/base/mpi_transport.hpp"

// Best and median of `reps` allreduces of n doubles, after warm-up, each started together (a barrier before it).
static void Time(int n, int reps, double *best, double *median) {
  std::vector<double> x(n, 1.0), t(reps);
  for (int r = 0; r < 20; ++r) MPI_Allreduce(MPI_IN_PLACE, x.data(), n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  for (int r = 0; r < reps; ++r) {
    std::fill(x.begin(), x.end(), 1.0);  // the step's gradient is new data each time
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, x.data(), n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    t[r] = MPI_Wtime() - t0;
  }
  MPI_Allreduce(MPI_IN_PLACE, t.data(), reps, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);  // the slowest rank's
  std::sort(t.begin(), t.end());
  *best = t[0], *median = t[reps / 2];
}

int main(int argc, char **argv) {
  ctflow::MpiSelectTransport();
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::vector<int> sizes = {512, 4096, 18093, 131072, 524288, 2097152};
  if (argc > 1) {
    sizes.resize(argc - 1);
    std::transform(argv + 1, argv + argc, sizes.begin(), [](char *a) { return std::atoi(a); });
  }
  if (rank == 0)
    std::printf("%s; %d ranks\n\n| doubles | bytes | best [us] | median [us] |\n|---|---|---|---|\n", ctflow::MpiTransportDescription().c_str(),
                size);
  for (int n : sizes) {
    double best, median;
    Time(n, n > 200000 ? 100 : 1000, &best, &median);
    if (rank == 0) std::printf("| %d | %.0f | %.1f | %.1f |\n", n, 8.0 * n, best * 1e6, median * 1e6);
  }
  MPI_Finalize();
  return 0;
}
