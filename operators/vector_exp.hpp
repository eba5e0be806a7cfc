// Vectorisable kernels for the streaming softmax of attention (eq. (6), (37)): the exponentials
// exp(a − μ) of a row of scores and their sum, the maximum of the scores. Loops the compiler vectorises (no calls to
// libm inside), with AVX-512 and AVX2/FMA clones chosen at run time on x86-64 where the compiler supports them.
#pragma once
#include <petscsys.h>

namespace ctflow {

// s[j] ← exp(s[j] − shift), j < n, for arguments s[j] − shift ≤ 709 (the softmax's are ≤ 0, or ≤ 64 with
// a lagging shift); returns Σ_j s[j] of the results, summed in 8 interleaved partial sums. Table-driven (Tang 1989):
// x = (16 k + j) ln2/16 + r, |r| ≤ ln2/32 (Cody–Waite, two-part ln 2), exp(x) = 2^k 2^(j/16) e^r with 2^(j/16) from a
// 16-entry table (a value and its rounding error; a register permute on AVX-512) and e^r − 1 by its Taylor polynomial of
// degree 7 (truncation |r|⁸/8! < 1.3e-18). Relative error ≤ 0.52 ulp (≤ 1 ulp from std::exp) where FMA is available,
// ≤ 2e-16 without; arguments below −708 (exp < 3.3e-308, including −∞) give exactly 0; above 709.76, meaningless.
PetscReal ExpShiftedSum(PetscInt n, PetscReal shift, PetscReal *s);
// ExpShiftedSum (the same results, bit for bit) that also returns *max = max_j s[j] of the arguments
// (n ≥ 1), in the same pass: for a shift that only approximates the maximum. Entries with s[j] − shift > 709
// give meaningless results, which the caller sees from *max.
PetscReal ExpShiftedSumMax(PetscInt n, PetscReal shift, PetscReal *s, PetscReal *max);
// ExpShiftedSumMax by columns of a rows × width block (row-major, rows ≥ 1, 1 ≤ width ≤ 16; a panel of scores as a GEMM
// micro-kernel reads it): for each column c, s[j][c] ← exp(s[j][c] − shift[c]) (the values of ExpShiftedSum, bit for bit),
// sum[c] = Σ_j of them, max[c] = max_j s[j][c] of the arguments. Column c's sum is added in another order than
// ExpShiftedSum's.
void ExpShiftedSumMaxColumns(PetscInt rows, PetscInt width, const PetscReal *shift, PetscReal *s, PetscReal *sum, PetscReal *max);
// max[c] = max_j s[j][c] of a rows × width block (rows ≥ 1, 1 ≤ width ≤ 16; no NaN).
void MaxOfColumns(PetscInt rows, PetscInt width, const PetscReal *s, PetscReal *max);
// The softmax's backward product on a row of attention (operators/streaming_softmax_transpose.cpp), in one pass:
// p[j] ← exp(p[j] − shift) · scale (the probabilities, from the scores, the row's shift and 1/sum) and then
// dp[j] ← p[j] (dp[j] − delta), j < n; the exponentials as ExpShiftedSum's, bit for bit.
void ExpScaledProduct(PetscInt n, PetscReal shift, PetscReal scale, PetscReal delta, PetscReal *p, PetscReal *dp);
// The softmax's numerators by columns of a rows × 8 block (rows ≥ 1, row-major; a query in each column,
// operators/short_sequence_softmax.cpp): max[c] = max_j s[j][c], then s[j][c] ← exp(s[j][c] − max[c]) (ExpShiftedSum's
// values, bit for bit; −∞ gives 0) and sum[c] = Σ_j of them. MaxOfColumns and ExpShiftedSumMaxColumns in one call.
void ExpMaxShiftedSumColumns(PetscInt rows, PetscReal *s, PetscReal *max, PetscReal *sum);
// ExpScaledProduct by columns of a rows × 8 block (row-major; a query in each column, operators/short_sequence_softmax.cpp):
// p[j][c] ← exp(p[j][c] − shift[c]) · scale[c], then dp[j][c] ← p[j][c] (dp[j][c] − delta[c]); the same values as
// ExpScaledProduct's, bit for bit.
void ExpScaledProductColumns(PetscInt rows, const PetscReal *shift, const PetscReal *scale, const PetscReal *delta, PetscReal *p, PetscReal *dp);
// max_j s[j] (n ≥ 1; no NaN), with several partial maxima so that it vectorises.
PetscReal MaxOf(PetscInt n, const PetscReal *s);

}  // namespace ctflow
