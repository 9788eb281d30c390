"""iALS: matrix factorization learned with implicit alternating least squares.

The library behind the tuning dashboard. It works without Streamlit: data sets and
evaluation protocols (`ials.data`, `ials.evaluation`), solvers (`ials.solvers`), the
model (`ials.model`), runs (`ials.experiment`, `ials.runs`) and the command line
(`python -m ials`).
"""

__version__ = "0.1.0"
