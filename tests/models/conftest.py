"""Fixtures shared by the model tests."""

import numba
import pytest
import threadpoolctl


@pytest.fixture
def one_thread():
    # Tiny models: BLAS and Numba (AdamW's kernel) worker threads cost far more than they
    # compute, above all on a busy machine, so train on one thread.
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)
