"""Learning from preferences: Bradley-Terry scores, reward models, DPO / IPO / PsiPO, SLiC."""
