"""The binary SMO solver behind :class:`affectflow.models.svm.SMOClassifier`.

Platt's SMO with Keerthi et al.'s two thresholds, following Weka 3.6's ``SMO.BinarySMO`` for a
linear kernel (see the docstring of :mod:`affectflow.models.svm` for what is reproduced and why
the dot products avoid BLAS). Separate from the estimator, which only scales the inputs, orders
the instances like Weka and runs one such machine per pair of classes.
"""

from __future__ import annotations

import warnings

import numpy as np

from affectflow.numerics import dot, matvec

# Weka's SMO.m_Del = 1000 * Double.MIN_VALUE: alphas this close to a bound snap onto it.
_DEL = 1000 * 5e-324
_MAX_PASSES = 1_000_000


class _BinarySMO:
    """One linear binary machine (targets -1/+1) following Weka's ``SMO.BinarySMO``.

    Errors follow Keerthi's convention ``F_i = w . x_i - y_i`` (the threshold stays out of
    them while training); like Weka's error cache, they are kept up to date incrementally for
    the non-bound set I0 only and refreshed for the others when examined. Set codes: 0 = I0
    (0 < a < C), 1 = I1 (y=+1, a=0), 2 = I2 (y=-1, a=C), 3 = I3 (y=+1, a=C), 4 = I4 (y=-1,
    a=0). The I0 rows live in a packed buffer so that an error-cache update is one
    matrix-vector product with the weight change.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, C: float, tol: float, eps: float) -> None:
        n, d = X.shape
        self.rows = list(X)
        self.sq = np.einsum("ij,ij->i", X, X).tolist()
        self.y = [float(v) for v in y]
        self.C, self.tol, self.eps = C, tol, eps
        self.alpha = [0.0] * n
        self.err = [0.0] * n  # authoritative outside I0
        self.code = [1 if v == 1.0 else 4 for v in self.y]
        self.slot = [-1] * n  # position in the I0 buffer, -1 outside I0
        self.buf = np.empty((n, d))
        self.ebuf = np.empty(n)  # errors of the I0 members, aligned with buf
        self.ids = [0] * n
        self.m = 0
        self.w = np.zeros(d)
        self.b_up, self.b_low = -1.0, 1.0
        self.i_up = max((i for i in range(n) if self.y[i] == 1.0), default=-1)
        self.i_low = max((i for i in range(n) if self.y[i] == -1.0), default=-1)

    def _get_err(self, i: int) -> float:
        s = self.slot[i]
        return float(self.ebuf[s]) if s >= 0 else self.err[i]

    def _move(self, i: int, a: float) -> None:
        """Give ``i`` the set code for its new alpha, moving it into or out of I0."""
        if 0.0 < a < self.C:
            code = 0
        elif self.y[i] == 1.0:
            code = 1 if a == 0.0 else 3
        else:
            code = 2 if a == self.C else 4
        s = self.slot[i]
        if code == 0 and s < 0:
            m = self.m
            self.buf[m] = self.rows[i]
            self.ebuf[m] = self.err[i]
            self.ids[m] = i
            self.slot[i] = m
            self.m = m + 1
        elif code != 0 and s >= 0:
            self.err[i] = float(self.ebuf[s])
            last = self.m - 1
            if s != last:
                self.buf[s] = self.buf[last]
                self.ebuf[s] = self.ebuf[last]
                moved = self.ids[last]
                self.ids[s] = moved
                self.slot[moved] = s
            self.slot[i] = -1
            self.m = last
        self.code[i] = code

    def _take_step(self, i1: int, i2: int, F2: float) -> bool:
        if i1 == i2:
            return False
        C, eps = self.C, self.eps
        alph1, alph2 = self.alpha[i1], self.alpha[i2]
        y1, y2 = self.y[i1], self.y[i2]
        F1 = self._get_err(i1)
        s = y1 * y2
        if y1 != y2:
            L, H = max(0.0, alph2 - alph1), min(C, C + alph2 - alph1)
        else:
            L, H = max(0.0, alph1 + alph2 - C), min(C, alph1 + alph2)
        if L >= H:
            return False
        x1, x2 = self.rows[i1], self.rows[i2]
        k11, k22 = self.sq[i1], self.sq[i2]
        k12 = dot(x1, x2)
        eta = 2 * k12 - k11 - k22
        if eta < 0:
            a2 = alph2 - y2 * (F1 - F2) / eta
            a2 = L if a2 < L else (H if a2 > H else a2)
        else:  # objective at both ends of the feasible segment
            f1, f2 = dot(x1, self.w), dot(x2, self.w)
            v1 = f1 - y1 * alph1 * k11 - y2 * alph2 * k12
            v2 = f2 - y1 * alph1 * k12 - y2 * alph2 * k22
            gamma = alph1 + s * alph2
            g_l, g_h = gamma - s * L, gamma - s * H
            l_obj = (g_l + L - 0.5 * k11 * g_l * g_l - 0.5 * k22 * L * L
                     - s * k12 * g_l * L - y1 * g_l * v1 - y2 * L * v2)
            h_obj = (g_h + H - 0.5 * k11 * g_h * g_h - 0.5 * k22 * H * H
                     - s * k12 * g_h * H - y1 * g_h * v1 - y2 * H * v2)
            if l_obj > h_obj + eps:
                a2 = L
            elif l_obj < h_obj - eps:
                a2 = H
            else:
                a2 = alph2
        if abs(a2 - alph2) < eps * (a2 + alph2 + eps):
            return False
        if a2 > C - _DEL * C:
            a2 = C
        elif a2 <= _DEL * C:
            a2 = 0.0
        a1 = alph1 + s * (alph2 - a2)
        if a1 > C - _DEL * C:
            a1 = C
        elif a1 <= _DEL * C:
            a1 = 0.0

        c1, c2 = y1 * (a1 - alph1), y2 * (a2 - alph2)
        dw = c1 * x1 + c2 * x2
        self.w += dw
        m = self.m
        if m:
            self.ebuf[:m] += matvec(self.buf[:m], dw)
        if self.slot[i1] < 0:
            self.err[i1] += c1 * k11 + c2 * k12
        if self.slot[i2] < 0:
            self.err[i2] += c1 * k12 + c2 * k22
        self.alpha[i1], self.alpha[i2] = a1, a2
        self._move(i1, a1)
        self._move(i2, a2)

        b_low, b_up, i_low, i_up = -np.inf, np.inf, -1, -1
        m = self.m
        if m:
            e = self.ebuf[:m]
            k_up, k_low = int(e.argmin()), int(e.argmax())
            b_up, i_up = float(e[k_up]), self.ids[k_up]
            b_low, i_low = float(e[k_low]), self.ids[k_low]
        for i in (i1, i2):
            c = self.code[i]
            if c == 0:
                continue
            if c >= 3:
                if self.err[i] > b_low:
                    b_low, i_low = self.err[i], i
            elif self.err[i] < b_up:
                b_up, i_up = self.err[i], i
        if i_low == -1 or i_up == -1:
            raise RuntimeError("SMO lost track of its thresholds (Weka: 'should never happen')")
        self.b_low, self.b_up, self.i_low, self.i_up = b_low, b_up, i_low, i_up
        return True

    def _examine(self, i2: int) -> bool:
        c = self.code[i2]
        if c == 0:
            F2 = float(self.ebuf[self.slot[i2]])
        else:
            F2 = dot(self.rows[i2], self.w) - self.y[i2]
            self.err[i2] = F2
            if c <= 2:
                if F2 < self.b_up:
                    self.b_up, self.i_up = F2, i2
            elif F2 > self.b_low:
                self.b_low, self.i_low = F2, i2
        two_tol = 2 * self.tol
        i1 = -1
        if c <= 2 and self.b_low - F2 > two_tol:
            i1 = self.i_low
        if (c == 0 or c >= 3) and F2 - self.b_up > two_tol:
            i1 = self.i_up
        if i1 == -1:
            return False
        if c == 0:
            i1 = self.i_low if self.b_low - F2 > F2 - self.b_up else self.i_up
        return self._take_step(i1, i2, F2)

    def solve(self) -> tuple[np.ndarray, float]:
        """Run SMO to convergence; returns (w, b) with output ``w . x - b``."""
        n = len(self.y)
        if self.i_up == -1 or self.i_low == -1:  # one class absent: constant vote
            return self.w, (-1.0 if self.i_up != -1 else (1.0 if self.i_low != -1 else 0.0))
        self.err[self.i_low] = 1.0
        self.err[self.i_up] = -1.0
        two_tol = 2 * self.tol
        num_changed, examine_all = 0, True
        passes = 0
        while num_changed > 0 or examine_all:
            passes += 1
            if passes > _MAX_PASSES:
                warnings.warn("SMO stopped after too many passes", RuntimeWarning, stacklevel=3)
                break
            num_changed = 0
            if examine_all:
                for i in range(n):
                    if self._examine(i):
                        num_changed += 1
            else:  # Keerthi's modification 1: sweep the non-bound examples
                code = self.code
                for i in range(n):
                    if code[i] != 0:
                        continue
                    if self._examine(i):
                        num_changed += 1
                    if self.b_up > self.b_low - two_tol:
                        num_changed = 0
                        break
            if examine_all:
                examine_all = False
            elif num_changed == 0:
                examine_all = True
        return self.w, (self.b_low + self.b_up) / 2.0
