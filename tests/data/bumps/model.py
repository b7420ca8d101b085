"""A straight line fitted to line.dat (columns x, y, dy) with bumps."""

import numpy as np
from bumps.names import Curve, FitProblem

x, y, dy = np.loadtxt("line.dat").T


def line(x, slope=1.0, intercept=0.0):
    return slope * x + intercept


M = Curve(line, x, y, dy, slope=1.0, intercept=0.0)
M.slope.range(-10, 10)
M.intercept.range(-10, 10)
problem = FitProblem(M)
