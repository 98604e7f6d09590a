"""Workloads: the layer graph, strict YAML loading/dumping, and the zoo of standard networks."""

from xbarsim.workload.builder import NetBuilder
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import INPUT, Layer, LayerType, PoolMode, Shape
from xbarsim.workload.loader import (
    dump_workload,
    is_workload_document,
    load_workload,
    workload_from_dict,
)
from xbarsim.workload.zoo import ZOO, write_zoo

__all__ = [
    "INPUT",
    "ZOO",
    "Layer",
    "LayerType",
    "NetBuilder",
    "PoolMode",
    "Shape",
    "Workload",
    "dump_workload",
    "is_workload_document",
    "load_workload",
    "workload_from_dict",
    "write_zoo",
]
