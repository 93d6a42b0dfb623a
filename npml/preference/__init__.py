"""Learning from preferences: Bradley-Terry scores, reward models, DPO / IPO / PsiPO, SLiC."""

from npml.preference.bradley_terry import BradleyTerry, ConvergenceWarning
from npml.preference.losses import dpo_loss, ipo_loss, log_ratio_margin, psipo_loss
from npml.preference.reward_model import (
    RewardModel,
    bradley_terry_loss_backward,
    bradley_terry_loss_forward,
    train_reward_model,
)
from npml.preference.sequence import (
    sequence_logps,
    sequence_logps_backward,
    sequence_logps_forward,
)
from npml.preference.slic import (
    slic_cross_entropy_regularizer,
    slic_expected_reward_loss,
    slic_kl_regularizer,
    slic_listwise_rank_loss,
    slic_margin_loss,
    slic_rank_loss,
)

__all__ = [
    "BradleyTerry",
    "ConvergenceWarning",
    "RewardModel",
    "bradley_terry_loss_backward",
    "bradley_terry_loss_forward",
    "dpo_loss",
    "ipo_loss",
    "log_ratio_margin",
    "psipo_loss",
    "sequence_logps",
    "sequence_logps_backward",
    "sequence_logps_forward",
    "slic_cross_entropy_regularizer",
    "slic_expected_reward_loss",
    "slic_kl_regularizer",
    "slic_listwise_rank_loss",
    "slic_margin_loss",
    "slic_rank_loss",
    "train_reward_model",
]
