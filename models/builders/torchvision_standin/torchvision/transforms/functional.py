from .._placeholder import InterpolationMode, module_getattr  # noqa: F401

__getattr__ = module_getattr(__name__)
