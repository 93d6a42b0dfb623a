"""Fixtures shared by the model tests."""

import pytest


@pytest.fixture
def one_thread():
    # Tiny models: BLAS and Numba (AdamW's kernel) worker threads cost far more than they
    # compute, above all on a busy machine, so train on one thread.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)
