"""Autograd-free neural-network layers: functional forward/backward pairs and thin modules."""

from npml.nn.module import Module, Parameter, load_npz, save_npz

__all__ = ["Module", "Parameter", "load_npz", "save_npz"]
