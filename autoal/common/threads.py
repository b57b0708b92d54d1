"""Running BLAS on one thread where many small calls make its threads wait on each other."""

from __future__ import annotations

__all__ = ["one_blas_thread"]


def one_blas_thread():
    """A context in which BLAS (OpenBLAS, MKL) runs on one thread (threadpoolctl, which scikit-learn brings).

    scikit-learn's lbfgs and randomized PCA spend their time in many small BLAS calls, and with one thread per core
    the threads mostly wait on each other, the more so when other work shares the cores. Measured on the 2-core
    build machine with other work running: a logistic regression on 600 x 2,560 embeddings fitted in 0.13 s
    instead of 2.9 s; a 64-component PCA of 10,000 x 2,560 in 1.7 s instead of 4.3-7.3 s; k-means of 2,000 x 2,560
    into 10 clusters in 0.11 s instead of 0.44-0.69 s.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
