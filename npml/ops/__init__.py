"""Math primitives used everywhere: norms, statistics, the softmax family, einsum."""

from npml.ops.norms import l2_norm
from npml.ops.softmax import log_softmax, logsumexp, softmax

__all__ = ["l2_norm", "log_softmax", "logsumexp", "softmax"]
