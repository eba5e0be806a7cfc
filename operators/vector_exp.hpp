// Vectorisable kernels for the streaming softmax of attention (eq. (6), (37)): the exponentials
// exp(a − max a) of a row of scores, its maximum and its sum. Loops the compiler vectorises (no calls to
// libm inside), with AVX-512 and AVX2/FMA clones chosen at run time on x86-64 where the compiler supports them.
#pragma once
#include <petscsys.h>

namespace ctflow {

// s[j] ← exp(s[j] − shift), j < n, for arguments s[j] − shift ≤ 709 (the softmax's are ≤ 0). Range
// reduction x = k ln 2 + r, |r| ≤ ln 2 / 2 (Cody–Waite, two-part ln 2), exp(r) by its Taylor polynomial of
// degree 13 (truncation |r|¹⁴/14! < 5e-18), times 2^k built in the exponent bits. Relative error a few
// ulp against std::exp for x ≥ −708; arguments below −708 (exp < 3.3e-308, including −∞) give exactly 0.
void ExpShifted(PetscInt n, PetscReal shift, PetscReal *s);
// ExpShifted, returning Σ_j s[j] of the results (one pass over s; the same sum as SumOf afterwards).
PetscReal ExpShiftedSum(PetscInt n, PetscReal shift, PetscReal *s);
// ExpShiftedSum that also returns *max = max_j s[j] of the arguments (n ≥ 1), in the same pass: for a shift
// that is only a bound of the maximum. Entries with s[j] − shift > 709 give meaningless results, which the
// caller sees from *max.
PetscReal ExpShiftedSumMax(PetscInt n, PetscReal shift, PetscReal *s, PetscReal *max);
// max_j s[j] (n ≥ 1; no NaN) and Σ_j s[j], with several partial results so that they vectorise.
PetscReal MaxOf(PetscInt n, const PetscReal *s);
PetscReal SumOf(PetscInt n, const PetscReal *s);

}  // namespace ctflow
