"""A stand-in for ``torchvision``, importable only while the zoo builds timm models.

timm imports torchvision at module level (data transforms, datasets, FrozenBatchNorm2d) although
building a model from a config needs none of it, and no CPU build of torchvision installs here.
Anything used from this stand-in raises, naming what is missing; it never computes anything.
"""

from ._placeholder import module_getattr

__version__ = "0.0.0+edgebench-standin"
__getattr__ = module_getattr(__name__)
