"""Architecture configuration: typed frozen dataclasses and their strict YAML loader."""

from xbarsim.config.loader import (
    apply_override,
    arch_from_dict,
    is_arch_document,
    load_arch,
    read_yaml,
    with_crossbars,
)
from xbarsim.config.schema import (
    AdcRange,
    Arch,
    Combine,
    MeasuredAlgorithm,
    PulseModel,
    WritePolicy,
)

__all__ = [
    "AdcRange",
    "Arch",
    "Combine",
    "MeasuredAlgorithm",
    "PulseModel",
    "WritePolicy",
    "apply_override",
    "arch_from_dict",
    "is_arch_document",
    "load_arch",
    "read_yaml",
    "with_crossbars",
]
