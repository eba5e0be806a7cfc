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
// max_j s[j] (n ≥ 1; no NaN) and Σ_j s[j], with several partial results so that they vectorise.
PetscReal MaxOf(PetscInt n, const PetscReal *s);
PetscReal SumOf(PetscInt n, const PetscReal *s);

}  // namespace ctflow
