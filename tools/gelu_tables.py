#!/usr/bin/python3
"""The polynomial tables of operators/gelu_kernel.hpp, computed with 50-digit mpmath.

    /usr/bin/python3 tools/gelu_tables.py > TABLES   # then paste them into operators/gelu_kernel.hpp

GELU(h) = h Φ(h) with the normal distribution Φ. Near 0, Φ(h) = 1/2 + h P(h²): P is the Chebyshev interpolant of degree
8 of (Φ(√u) − 1/2)/√u on u ∈ [0, 1/4] (|h| < 1/2), written as a polynomial in u. Elsewhere Φ(−t) = e^(−t²/2) Q(t) with
the scaled Mills ratio Q(t) = e^(t²/2) Φ(−t), smooth and slowly varying (Q(t) ≈ 1/(t √(2π)) for large t); Q is
interpolated on the 25 pieces [2^e (1 + j/4), 2^e (1 + (j + 1)/4)), t ∈ [1/2, 40) (the exponent and the top two
mantissa bits of t), each by a polynomial of degree 14 in d = t − (midpoint), its constant term split into a double and
its rounding error. Printed: the tables as C++ and, on stderr, each approximation's largest relative error on a dense
grid (all below 2^-60).
"""
import sys

import mpmath as mp

mp.mp.dps = 50
DEGREE, CENTRAL_DEGREE, CENTRAL_END, END = 14, 8, mp.mpf(1) / 2, 40


def scaled_mills(t):
    return mp.erfc(t / mp.sqrt(2)) * mp.exp(t * t / 2) / 2


def central(u):
    if u == 0:
        return 1 / mp.sqrt(2 * mp.pi)
    return (mp.ncdf(mp.sqrt(u)) - mp.mpf(1) / 2) / mp.sqrt(u)


def taylor_of_interpolant(f, a, b, degree, centre):
    """The coefficients in (x − centre) of f's Chebyshev interpolant of the given degree on [a, b]."""
    n = degree + 1
    nodes = [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n) for k in range(n)]
    values = [f(x) for x in nodes]

    def interpolant(x):  # barycentric form for Chebyshev points of the first kind
        num = den = mp.mpf(0)
        for k, (xk, fk) in enumerate(zip(nodes, values)):
            if x == xk:
                return fk
            w = (-1) ** k * mp.sin(mp.pi * (k + mp.mpf(1) / 2) / n) / (x - xk)
            num, den = num + w * fk, den + w
        return num / den

    return mp.taylor(interpolant, centre, degree), interpolant


def worst(f, approx, a, b):
    return max(abs(approx(x) / f(x) - 1) for x in mp.linspace(a, b, 400))


def pieces():
    e = -1
    while 2**e < END:
        for j in range(4):
            a = mp.mpf(2) ** e * (1 + mp.mpf(j) / 4)
            if a < END:
                yield a, a + mp.mpf(2) ** e / 4
        e += 1


def main():
    columns = [[] for _ in range(DEGREE + 2)]
    for a, b in pieces():
        coefficients, interpolant = taylor_of_interpolant(scaled_mills, a, b, DEGREE, (a + b) / 2)
        print(f"[{float(a)}, {float(b)}): {mp.nstr(worst(scaled_mills, interpolant, a, b), 3)}", file=sys.stderr)
        hi = float(coefficients[0])
        columns[0].append(hi)
        columns[1].append(float(coefficients[0] - hi))
        for k in range(1, DEGREE + 1):
            columns[k + 1].append(float(coefficients[k]))
    p, interpolant = taylor_of_interpolant(central, mp.mpf(0), CENTRAL_END**2, CENTRAL_DEGREE, 0)
    print(f"central: {mp.nstr(worst(central, interpolant, 0, CENTRAL_END**2), 3)}", file=sys.stderr)
    print(f"inline constexpr double kGeluCentral[{CENTRAL_DEGREE + 1}] = {{{', '.join(float(c).hex() for c in p)}}};")
    print(f"inline constexpr int kGeluPieces = {len(columns[0])};")
    print(f"alignas(64) inline constexpr double kGeluMills[{DEGREE + 2}][32] = {{")
    for column in columns:
        print("    {" + ", ".join(c.hex() for c in column) + "},")
    print("};")


if __name__ == "__main__":
    main()
