"""Fuzzing the command line with mutated copies of the shipped configs and workloads.

Each case mutates ``arch_configs/tiny.yaml``, ``workloads/mlp_digits.yaml`` or
``workloads/lenet5_mnist.yaml``: as data (a key deleted, a value replaced by another type, huge,
negative, zero, NaN or infinite numbers, long or unicode strings with control characters and
unpaired surrogates, deep nesting, layers repeated) and as text (YAML anchors and aliases,
duplicate keys, stray characters, truncation, bad encodings). The document goes through
``xbarsim validate``; a valid one then through ``xbarsim run`` on a tiny crossbar count and
``xbarsim functional`` on a few inputs (small networks only). Every command must exit 0, or 2
with exactly one stderr line starting ``error: `` (``validate``: one such line per error),
within ``CASE_SECONDS``. A systematic part
sets every number of ``tiny.yaml`` in turn to extreme values (``EXTREMES``). One known
deviation is let through and counted: ``KNOWN_NOTE``.

Under pytest the mutations are drawn by hypothesis (``st.randoms``, so failures shrink). As a
script it runs N random cases and prints the counts of clean rejections, accepted documents,
crashes and hangs::

    python tests/test_fuzz.py --cases 500 [--seed 0] [--extremes] [--verbose]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import math
import os
import random
import re
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xbarsim.cli.main import main
from xbarsim.workload import load_workload
from xbarsim.workload.weights import random_weights

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {name: (ROOT / name).read_text(encoding="utf-8") for name in (
    "arch_configs/tiny.yaml", "workloads/mlp_digits.yaml", "workloads/lenet5_mnist.yaml")}
"""Documents the cases mutate, by path."""
TINY = str(ROOT / "arch_configs" / "tiny.yaml")
MLP = str(ROOT / "workloads" / "mlp_digits.yaml")
MLP_WEIGHTS = str(ROOT / "workloads" / "mlp_digits.weights.npz")
MLP_BASIS = str(ROOT / "workloads" / "mlp_digits.basis.npz")
DIGITS = str(ROOT / "workloads" / "digits_test.npz")

CASE_SECONDS = 30.0
"""A case still running after this long is a hang (interrupted with SIGALRM)."""
RUN_MAX_PARAMS = 2**18
"""Mutated workloads are simulated only up to this many weights (4x LeNet-5)..."""
RUN_MAX_MACS = 2**24
"""...and this many MACs per inference (32 times fewer with ``--granularity vector`` or
``row``, one event per vector or row): bigger valid networks are slow, not wrong."""
FUNCTIONAL_MAX_INPUT = 2**14
"""Functional runs of mutated workloads only for inputs up to this many values per image."""

# --- hostile values ----------------------------------------------------------------------------

STRINGS = ("", " ", "x" * 5000, "\x00", "a\x00b", "\x07", "\x1b[31mred", "a\nb", "\r\n", "\t",
           "\u202eevil", "\ud800", "a\udfffb", "\ud83d", "caf\u00e9", "\u540d\u524d", "\U0001f600",
           "\u0085", "\u2028", "\ufeff", "=1+2", "-net", "@x", "+x", "NA", "nan", ".nan", "null",
           "~", "yes", "no", "on", "0x1F", "0o17", "1e400", "-0", "1_000", "1:30", "2001-12-14",
           "static", "reprogram", "basis", "conv", "linear", "pool", "add", "concat", "flatten",
           "max", "avg", "input", "fc1", "conv1", "../etc/passwd", "a/b", "\\", "%s%n", "{}",
           "[]", "*a", "&a", "!!python/object:os.system", "program_verify", "single_pass",
           "fixed", "measured", "digital", "analog", "differential", "offset")
NUMBERS = (0, -1, 1, 2, 3, 7, 255, 256, 2**16, 2**16 + 1, 2**20 + 1, 2**31 - 1, 2**31, 2**32,
           2**34 + 1, 2**53 + 1, 2**63, 2**64, 10**30, 10**99, -(10**99), 0.0, -0.0, 0.5, 1e-300,
           5e-324, 1e308, 1.7976931348623157e308, math.nan, math.inf, -math.inf, 1e30, -1e-9,
           1e-12, 3.5, 1000.0)
SCALARS_TEXT = ("1e999", "-1e999", ".inf", "-.inf", ".nan", "0x1f", "0o17", "0b101", "1_0", "1:30",
                "2001-12-14", "!!float 1", "!!str 3", "null", "~", "true", "\"\\ud800\"",
                "\"\\x00\"", "'''", "\"\\e\"", "-", "?", "9" * 99, "9" * 120, "1e-400", "+.5")
JUNK = ("\t", "{", "}", "[", "]", ":", ": ", "- ", "'", "\"", "&", "*", "!", "%", "@", "`", "|",
        ">", "#", ",", "\x00", "\x1b", "\x7f", "\u0085", "\u2028", "\ufeff", "\ud800", "\n",
        "\n  ", "!!binary AAAA", "!!python/name:os.system", "? complex\n", "---\n", "...\n",
        "%YAML 1.1\n", "<<: {a: 1}\n", "\\", "\r", "\u00a0")


def hostile_string(rng: random.Random) -> str:
    """A special string, or random characters anywhere in Unicode (surrogates included)."""
    if rng.random() < 0.6:
        return rng.choice(STRINGS)
    alphabet = rng.choice([(0, 0x7F), (0, 0x20), (0x80, 0x10FFFF), (0xD800, 0xDFFF)])
    return "".join(chr(rng.randint(*alphabet)) for _ in range(rng.choice([1, 3, 20, 300])))


def hostile_number(rng: random.Random) -> int | float:
    """A special number, or a random integer or float of any size and sign."""
    pick = rng.random()
    if pick < 0.6:
        return rng.choice(NUMBERS)
    if pick < 0.8:
        return rng.randint(-(2 ** rng.choice([4, 16, 40, 70])), 2 ** rng.choice([4, 16, 40, 70]))
    return rng.choice([-1, 1]) * 10 ** rng.uniform(-320, 308)


def nested(rng: random.Random, depth: int) -> Any:
    """``depth`` levels of lists or mappings around a scalar."""
    value: Any = rng.choice([1, "x", None])
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def hostile_value(rng: random.Random, depth: int = 0) -> Any:
    """A value of any type: string, number, bool, None, list, mapping or deep nesting."""
    kind = rng.choice(["str", "num", "num", "bool", "none", "list", "map", "deep"])
    if kind == "str":
        return hostile_string(rng)
    if kind == "num":
        return hostile_number(rng)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "deep":
        return nested(rng, rng.choice([2, 10, 63, 64, 65, 200]))
    if depth > 2:
        return hostile_string(rng)
    if kind == "list":
        return [hostile_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {hostile_key(rng): hostile_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def hostile_key(rng: random.Random) -> Any:
    """A mapping key: a string, sometimes a number, bool or None."""
    return hostile_string(rng) if rng.random() < 0.85 else rng.choice([1, 0.5, True, None])


# --- mutating the document as data --------------------------------------------------------------

Slot = tuple[Any, Any]
"""A container and a key (mapping) or index (list) in it."""


def slots(tree: Any) -> list[Slot]:
    """Every (container, key) of the tree, depth first."""
    found: list[Slot] = []
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(
        tree, list) else ()
    for key, value in list(items):
        found.append((tree, key))
        found.extend(slots(value))
    return found


def keys_in(tree: Any) -> list[Any]:
    """Every mapping key of the tree (valid keys to put in the wrong place)."""
    return [key for container, key in slots(tree) if isinstance(container, dict)]


def tweak_number(value: Any, rng: random.Random) -> Any:
    """A number scaled, negated, zeroed or nudged."""
    op = rng.choice(["neg", "zero", "scale", "nudge", "float"])
    if op == "neg":
        return -value
    if op == "zero":
        return 0
    if op == "nudge":
        return value + rng.choice([-1, 1])
    if op == "float":
        return float(value) + rng.choice([0.5, 1e-9])
    factor = rng.choice([2, 3, 10, 1000, 10**6, 10**9, 10**30])
    return value * factor if isinstance(value, int) else value * float(factor)


def mutate_tree(tree: Any, rng: random.Random) -> str:
    """Apply one data mutation in place; return what it did."""
    spots = slots(tree)
    if not spots:
        return "nothing to mutate"
    container, key = rng.choice(spots)
    value = container[key]
    op = rng.choice(["delete", "replace", "replace", "number", "add", "wrap", "swap", "repeat",
                     "rename"])
    if op == "number":
        numbers = [(c, k) for c, k in spots
                   if isinstance(c[k], (int, float)) and not isinstance(c[k], bool)]
        if numbers:
            container, key = rng.choice(numbers)
            container[key] = tweak_number(container[key], rng)
            return f"number {key!r} -> {container[key]!r:.60}"
        op = "replace"
    if op == "delete":
        del container[key]
        return f"delete {key!r:.60}"
    if op == "add":
        target = rng.choice([c for c, _ in spots if isinstance(c, dict)] or [container])
        new_key = rng.choice(keys_in(tree)) if rng.random() < 0.5 else hostile_key(rng)
        if isinstance(target, dict):
            target[new_key] = hostile_value(rng) if rng.random() < 0.5 else copy.deepcopy(value)
        else:
            target.append(hostile_value(rng))
        return f"add {new_key!r:.60}"
    if op == "wrap":
        container[key] = [value] if rng.random() < 0.5 else {hostile_key(rng): value}
        return f"wrap {key!r:.60}"
    if op == "swap":
        other, other_key = rng.choice(spots)
        try:  # copies: one slot may be inside the other (no cycles, no shared nodes)
            container[key], other[other_key] = (copy.deepcopy(other[other_key]),
                                                copy.deepcopy(value))
        except (KeyError, IndexError):
            return "swap (skipped)"
        return f"swap {key!r:.60} <-> {other_key!r:.60}"
    if op == "repeat":
        lists = [c for c, _ in spots if isinstance(c, list) and c]
        if lists:
            target = rng.choice(lists)
            item = rng.randrange(len(target))
            count = rng.choice([1, 2, 50, 2000])
            target[item + 1:item + 1] = [copy.deepcopy(target[item]) for _ in range(count)]
            return f"repeat item {item} x{count}"
    if op == "rename":
        names = [(c, k) for c, k in spots if k == "name" and isinstance(c, dict)]
        if names:
            target, _ = rng.choice(names)
            target["name"] = rng.choice([hostile_string(rng), *[c["name"] for c, _ in names]])
            return f"rename to {target['name']!r:.60}"
    container[key] = hostile_value(rng)
    return f"replace {key!r:.60} -> {container[key]!r:.60}"


# --- mild mutations: plausible values, so that documents often stay valid and run ---------------

ENUMS = {"policy": ("program_verify", "single_pass"), "pulse_model": ("fixed", "measured"),
         "combine": ("digital", "analog"), "mode": ("max", "avg")}
"""Values of the enumerated keys of the shipped documents."""


def plausible(key: Any, value: Any, rng: random.Random) -> Any:
    """Another value a user might write for ``key``: small or odd numbers, another choice."""
    if isinstance(value, bool):
        return not value
    if key in ENUMS:
        return rng.choice(ENUMS[key])
    if isinstance(value, int):
        return rng.choice([0, 1, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 32, 64, 100, 255, 1024,
                           2**20, 2**31, value + 1, max(1, value // 2), value * 2, value * 16])
    if isinstance(value, float):
        return rng.choice([0.0, 5e-324, 1e-300, 1e-9, 1e-3, 0.1, 0.5, 1.0, 3.0, 100.0, 1e6,
                           1e12, value * 1e-6, value / 2, value * 2, value * 1e6])
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [plausible(key, v, rng) for v in value]
    return value


def mutate_mild(tree: Any, rng: random.Random) -> str:
    """Give one to three leaves (or a workload's optional layer keys) plausible values."""
    leaves = [(c, k) for c, k in slots(tree) if not isinstance(c[k], (dict, str)) or k in ENUMS]
    done = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        container, key = rng.choice(leaves)
        if isinstance(container, list) and isinstance(container[key], dict):
            layer = container[key]
            extra = rng.choice(["relu", "padding", "stride", "groups", "kernel"])
            layer[extra] = plausible(extra, layer.get(extra, True if extra == "relu" else 1), rng)
            done.append(f"{layer.get('name')}.{extra}={layer[extra]!r}")
            continue
        container[key] = plausible(key, container[key], rng)
        done.append(f"{key}={container[key]!r}")
    return "mild " + ", ".join(done)


REPAIRABLE = re.compile(r"\.(in_channels|out_channels)$")
EXPECTED = re.compile(r"\(expected (\d+)\)$")


def repair(tree: Any) -> str:
    """Set channel counts a workload's shapes now imply (from the loader's own messages)."""
    from xbarsim.errors import XbarsimError
    from xbarsim.workload import workload_from_dict

    fixed = 0
    for _ in range(12):
        try:
            workload_from_dict(copy.deepcopy(tree), file="fuzz")
            break
        except XbarsimError as err:
            key, expected = REPAIRABLE.search(err.key or ""), EXPECTED.search(err.message)
            index = re.match(r"layers\[(\d+)\]", err.key or "")
            if not (key and expected and index):
                break
            tree["layers"][int(index[1])][key[1]] = int(expected[1])
            fixed += 1
    return f"repaired {fixed} channel counts" if fixed else ""


def dump(tree: Any) -> str:
    """YAML text of a mutated tree (non-printable characters escaped by the emitter)."""
    return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False, width=10**6)


# --- mutating the document as text ---------------------------------------------------------------

SCALAR_RE = re.compile(r"(?P<key>[A-Za-z_][\w]*): (?P<value>[^\s,{}\[\]#][^,{}\[\]#\n]*?)"
                       r"(?=\s*(?:[,}\]]|#|\n|$))")
"""``key: value`` with a plain scalar value, in block or flow style."""


def mutate_text(text: str, rng: random.Random) -> tuple[str, str]:
    """Apply one text mutation; return the text and what was done."""
    op = rng.choice(["alias", "alias", "merge", "duplicate", "duplicate", "junk", "junk",
                     "delete", "truncate", "scalar", "scalar", "swap_lines", "indent"])
    lines = text.split("\n")
    matches = list(SCALAR_RE.finditer(text))
    if op in ("alias", "merge") and len(matches) >= 2:
        first, second = sorted(rng.sample(matches, 2), key=lambda m: m.start())
        anchor = f"&{rng.choice(['a', 'x1', 'n'])} "
        if op == "merge":
            return (text[:first.start("value")] + anchor + text[first.start("value"):],
                    "anchor only" if rng.random() < 0.5 else "merge")
        alias = "*" + anchor[1:].strip()
        return (text[:first.start("value")] + anchor + text[first.start("value"):second.start(
            "value")] + alias + text[second.end("value"):], f"alias {first['key']}->"
                f"{second['key']}")
    if op == "duplicate" and matches:
        m = rng.choice(matches)
        if "{" in text[text.rfind("\n", 0, m.start()) + 1:m.start()]:  # inside a flow mapping
            return text[:m.end()] + f", {m.group(0)}" + text[m.end():], f"duplicate {m['key']}"
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        end = len(text) if end < 0 else end
        line = text[start:end]
        return text[:end] + "\n" + line + text[end:], f"duplicate line {line.strip()[:40]!r}"
    if op == "scalar" and matches:
        m = rng.choice(matches)
        new = rng.choice([*SCALARS_TEXT, repr(hostile_number(rng))])
        return text[:m.start("value")] + new + text[m.end("value"):], f"{m['key']}: {new[:40]!r}"
    if op == "delete" and text:
        start = rng.randrange(len(text))
        end = start + rng.choice([1, 2, 5, 40])
        return text[:start] + text[end:], f"delete chars {start}:{end}"
    if op == "truncate" and text:
        cut = rng.randrange(len(text))
        return text[:cut], f"truncate at {cut}"
    if op == "swap_lines" and len(lines) > 2:
        i, j = rng.sample(range(len(lines)), 2)
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines), f"swap lines {i} {j}"
    if op == "indent" and lines:
        i = rng.randrange(len(lines))
        lines[i] = rng.choice([" ", "  ", "\t", "    "]) + lines[i]
        return "\n".join(lines), f"indent line {i}"
    junk = rng.choice(JUNK) if rng.random() < 0.8 else hostile_string(rng)
    at = rng.randrange(len(text) + 1)
    return text[:at] + junk + text[at:], f"insert {junk[:20]!r} at {at}"


def encode(text: str, rng: random.Random) -> tuple[bytes, str]:
    """UTF-8 bytes (lone surrogates as invalid sequences); sometimes another encoding."""
    pick = rng.random()
    if pick < 0.04:
        return "\ufeff".encode() + text.encode("utf-8", "surrogatepass"), "BOM"
    if pick < 0.07:
        return text.encode("utf-16", "surrogatepass"), "UTF-16"
    if pick < 0.10:
        data = bytearray(text.encode("utf-8", "surrogatepass"))
        data.insert(rng.randrange(len(data) + 1), rng.choice([0xFF, 0xC0, 0x80, 0x00]))
        return bytes(data), "invalid byte"
    return text.encode("utf-8", "surrogatepass"), ""


# --- cases ----------------------------------------------------------------------------------------

@dataclass
class Case:
    """One mutated document and how to run it."""

    source: str
    data: bytes
    steps: list[str]
    dataflow: str
    crossbars: int
    functional_flow: str
    run_options: list[str] = field(default_factory=list)
    """More ``run`` options: --overlap, --granularity, --batch, --seed."""

    def describe(self) -> str:
        """The source, mutations and the start of the document, for a report."""
        head = self.data[:600].decode("utf-8", "backslashreplace")
        return (f"source {self.source}; mutations: {'; '.join(self.steps)}; run --dataflow "
                f"{self.dataflow} --crossbars {self.crossbars} {' '.join(self.run_options)}; "
                f"functional --dataflow {self.functional_flow}\n--- document ---\n{head}")


def make_case(rng: random.Random) -> Case:
    """A random mutation of a random source document."""
    source = rng.choice(sorted(SOURCES))
    text, steps = SOURCES[source], []
    if rng.random() < 0.5:
        tree = yaml.safe_load(text)
        steps.append(mutate_mild(tree, rng))
        if "layers" in tree:
            steps.append(repair(tree))
        text = dump(tree)
    elif rng.random() < 0.7:
        tree = yaml.safe_load(text)
        for _ in range(rng.choice([1, 1, 2, 3])):
            steps.append(mutate_tree(tree, rng))
        try:
            text = dump(tree)
        except (yaml.YAMLError, RecursionError, ValueError) as exc:
            steps.append(f"not dumpable ({type(exc).__name__}); kept the source")
    if not steps or rng.random() < 0.25:
        for _ in range(rng.choice([1, 1, 2])):
            text, step = mutate_text(text, rng)
            steps.append(step)
    data, encoding = encode(text, rng)
    if encoding:
        steps.append(encoding)
    is_arch = source.startswith("arch_configs")
    flow = rng.choice(("static", "reprogram", "reprogram", "basis"))
    granularity = rng.choice(["work_item", "work_item", "vector", "row"])
    batch = rng.choice([1, 1, 2, 3]) if granularity == "work_item" else 1
    options = [*(["--overlap"] if flow == "reprogram" and rng.random() < 0.3 else []),
               "--granularity", granularity, "--batch", str(batch),
               "--seed", str(rng.randint(0, 2**31))]
    return Case(source, data, steps, flow, rng.choice([1, 2, 4, 8, 128]),
                rng.choice(["static", "all"]) if is_arch else "static", options)


EXTREMES = {float: (5e-324, 1e-300, 1e12), int: (0, 2**20, 2**31)}
"""Values every number of ``tiny.yaml`` takes in turn (``extreme_cases``)."""


def extreme_cases() -> Iterator[Case]:
    """``tiny.yaml`` with one number at a time set to each of ``EXTREMES``: the systematic part."""
    source = "arch_configs/tiny.yaml"
    base = yaml.safe_load(SOURCES[source])
    leaves = [(c, k) for c, k in slots(base)
              if isinstance(c[k], (int, float)) and not isinstance(c[k], bool)]
    flows = ("reprogram", "basis", "static")
    for n, (container, key) in enumerate(leaves):
        for value in EXTREMES[type(container[key])]:
            original, container[key] = container[key], value
            text = dump(base)
            container[key] = original
            yield Case(source, text.encode(), [f"{key}={value!r}"], flows[n % 3], 4, "all",
                       ["--granularity", "work_item"])


# --- running a case ------------------------------------------------------------------------------

class CaseTimeout(BaseException):
    """A case ran past ``CASE_SECONDS`` (a BaseException so that ``main`` does not catch it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``CaseTimeout`` in the main thread after ``seconds``."""
    def alarm(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"still running after {seconds:g} s")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


KNOWN_NOTE = re.compile(r"^fitting the example basis of \S+ \(once; cached in .*\)$")
"""Known, reported deviation (in ``xbarsim/basis/examples.py``, which logs it): ``run
--dataflow basis`` without ``--basis`` on a workload with no shipped basis logs this progress
note on stderr before fitting, so an error found after the fit (e.g. ``--crossbars: one basis
copy ... needs 4 crossbars but the chip has 2``) is a second stderr line. Let through, counted."""

Cli = Callable[[list[str]], tuple[int, str, str]]
"""Runs ``main(argv)`` and returns (exit code, stdout, stderr)."""


@dataclass
class Outcome:
    """What a case did: its verdict and one line per command."""

    verdict: str = "rejected"
    """``rejected`` (validate said no, cleanly), ``accepted``, ``crash`` or ``hang``."""
    commands: list[str] = field(default_factory=list)
    problem: str = ""
    warned: int = 0
    """Python warnings raised while the case ran (RuntimeWarning from numpy, ...)."""
    known: list[str] = field(default_factory=list)
    """Known deviations let through (``KNOWN_NOTE``)."""


def check(cli: Cli, argv: list[str], outcome: Outcome) -> tuple[int, str] | None:
    """Run one command; record a crash (or return its exit code and stdout)."""
    try:
        code, out, err = cli(argv)
    except CaseTimeout:
        raise
    except BaseException as exc:  # anything escaping main is a crash
        outcome.verdict = "crash"
        outcome.problem = f"{' '.join(argv)}\nraised {type(exc).__name__}\n" + "".join(
            traceback.format_exception(exc))[-4000:]
        return None
    lines = err.splitlines()
    if code == 2 and len(lines) == 2 and KNOWN_NOTE.match(lines[0]):
        outcome.known.append(lines[0])  # reported: see KNOWN_NOTE
        lines = lines[1:]
    # one error line; validate lists every error of an architecture, one line each
    one_line = len(lines) == 1 or (argv[0] == "validate" and len(lines) > 1)
    clean = code == 0 or (code == 2 and one_line and all(ln.startswith("error: ") for ln in lines))
    outcome.commands.append(f"{argv[0]} -> {code}" + (f": {lines[-1][:200]}" if lines else ""))
    if not clean or "Traceback" in err:
        outcome.verdict = "crash"
        outcome.problem = f"{' '.join(argv)}\nexit {code}\nstderr:\n{err[-4000:]}"
        return None
    return code, out


def run_case(case: Case, work: Path, cli: Cli) -> Outcome:
    """Validate the document; if valid, run and (small networks) functional; within time."""
    outcome = Outcome()
    path = work / "doc.yaml"
    path.write_bytes(case.data)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with time_limit(CASE_SECONDS):
                _run_commands(case, path, work, cli, outcome)
        except CaseTimeout as exc:
            outcome.verdict = "hang"
            outcome.problem = f"{exc} (commands so far: {outcome.commands})"
    outcome.warned = len(caught)
    outcome.commands.append(f"{time.perf_counter() - start:.2f} s")
    return outcome


def _run_commands(case: Case, path: Path, work: Path, cli: Cli, outcome: Outcome) -> None:
    """``validate``, then ``run`` and ``functional`` with the document in its place."""
    result = check(cli, ["validate", str(path)], outcome)
    if result is None or result[0] != 0:
        return
    outcome.verdict = "accepted"
    is_arch = "(architecture " in result[1]
    arch, workload = (str(path), MLP) if is_arch else (TINY, str(path))
    fine = "work_item" not in case.run_options  # one event per vector or row: fewer MACs
    if not is_arch and not _small(path, RUN_MAX_PARAMS, RUN_MAX_MACS // (32 if fine else 1)):
        return
    run = ["run", "--arch", arch, "--workload", workload, "--dataflow", case.dataflow,
           "--crossbars", str(case.crossbars), *case.run_options, "--out", str(work / "run")]
    if check(cli, run, outcome) is None:
        return
    functional = _functional_args(case, arch, workload, work, is_arch)
    if functional is not None:
        check(cli, functional, outcome)


def _small(path: Path, max_params: int, max_macs: int) -> bool:
    """Whether a valid workload is small enough to simulate quickly."""
    workload = load_workload(path)
    return workload.total_params <= max_params and workload.total_macs <= max_macs


def _functional_args(case: Case, arch: str, workload: str, work: Path,
                     is_arch: bool) -> list[str] | None:
    """``functional`` arguments: the digits MLP for an architecture; random weights and inputs
    for a small workload; None for a big one."""
    base = ["functional", "--arch", arch, "--workload", workload, "--out", str(work / "func")]
    if is_arch:
        extra = ["--basis", MLP_BASIS] if case.functional_flow == "all" else []
        return [*base, "--weights", MLP_WEIGHTS, "--inputs", DIGITS, "--limit", "3",
                "--dataflow", case.functional_flow, *extra]
    net = load_workload(workload)
    if math.prod(net.input_shape) > FUNCTIONAL_MAX_INPUT or not _small(
            Path(workload), RUN_MAX_PARAMS // 4, RUN_MAX_MACS // 16):
        return None
    weights = {f"weights/{k}": v for k, v in random_weights(net, 0).items()}
    np.savez(work / "w.npz", **weights)  # type: ignore[arg-type]
    x = np.random.default_rng(0).random((2, *net.input_shape))
    np.savez(work / "x.npz", x=x)
    return [*base, "--weights", str(work / "w.npz"), "--inputs", str(work / "x.npz")]


# --- pytest ---------------------------------------------------------------------------------------

FUZZ = settings(max_examples=1150, deadline=timedelta(seconds=10), database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
"""About 60 s for the fuzz tests together on one core of a 2-core runner. The examples are
the same on every run (``derandomize``, ``tests/conftest.py``); the script below draws new ones."""


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> Cli:
    """``main`` in-process, output captured with capsys; example bases cached in a temp dir."""
    monkeypatch.setenv("XBARSIM_CACHE", str(tmp_path / "cache"))
    capsys.readouterr()

    def run(argv: list[str]) -> tuple[int, str, str]:
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err
    return run


def assert_clean(case: Case, outcome: Outcome) -> None:
    """Every command exited 0 or 2 with one ``error:`` line, in time."""
    assert outcome.verdict in ("rejected", "accepted"), (
        f"{outcome.verdict}: {outcome.problem}\n{case.describe()}")


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_mutated_documents_fail_cleanly_or_run(cli: Cli, tmp_path: Path,
                                               rng: random.Random) -> None:
    case = make_case(rng)
    assert_clean(case, run_case(case, tmp_path, cli))


@settings(FUZZ, max_examples=700)
@given(rng=st.randoms(use_true_random=False))
def test_text_mutations_of_valid_documents(cli: Cli, tmp_path: Path, rng: random.Random) -> None:
    source = rng.choice(sorted(SOURCES))
    text, steps = SOURCES[source], []
    for _ in range(rng.choice([1, 2])):
        text, step = mutate_text(text, rng)
        steps.append(step)
    case = Case(source, text.encode("utf-8", "surrogatepass"), steps, "reprogram", 2, "static")
    assert_clean(case, run_case(case, tmp_path, cli))


def test_every_number_of_the_tiny_config_at_its_extremes(cli: Cli, tmp_path: Path) -> None:
    problems = []
    for case in extreme_cases():
        outcome = run_case(case, tmp_path, cli)
        if outcome.verdict not in ("rejected", "accepted"):
            problems.append(f"{outcome.verdict}: {outcome.problem}\n{case.describe()}")
    assert not problems, "\n\n".join(problems[:3])


def test_the_mutations_reach_every_kind_of_outcome() -> None:
    """The mutator makes valid and invalid documents of every source (it is not all noise)."""
    rng = random.Random(1)
    seen: Counter[tuple[str, int]] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(60):
            case = make_case(rng)
            path = Path(tmp) / "doc.yaml"
            path.write_bytes(case.data)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(
                    io.StringIO()):
                seen[case.source.split("/")[0], main(["validate", str(path)])] += 1
    for kind in ("arch_configs", "workloads"):
        assert seen[kind, 0] and seen[kind, 2], seen


# --- script mode ----------------------------------------------------------------------------------

def redirected(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured (script mode)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: counted like any exit status
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def say(text: str) -> None:
    """A line on stdout, at once (script mode)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def fuzz(cases: int, seed: int, verbose: bool, extremes: bool = False) -> Counter[str]:
    """Run ``cases`` random cases (and the extreme values of every number of ``tiny.yaml``);
    print each problem and the counts."""
    counts: Counter[str] = Counter()
    start = time.perf_counter()
    todo = [*(extreme_cases() if extremes else ()),
            *(make_case(random.Random(seed * 1_000_003 + i)) for i in range(cases))]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XBARSIM_CACHE"] = str(Path(tmp) / "cache")  # example bases fitted here
        for i, case in enumerate(todo):
            work = Path(tmp) / f"case{i}"
            work.mkdir()
            outcome = run_case(case, work, redirected)
            counts[outcome.verdict] += 1
            counts["ran further than validate"] += outcome.verdict == "accepted" and len(
                outcome.commands) > 2
            counts["cases with Python warnings"] += outcome.warned > 0
            counts["known note"] += any(k.startswith("fitting") for k in outcome.known)
            counts["known crash"] += any(k.startswith("known crash") for k in outcome.known)
            if verbose and outcome.known:
                say(f"case {i}: known: {'; '.join(case.steps)[:150]} | {outcome.known}")
            if outcome.verdict in ("crash", "hang"):
                say(f"=== case {i} (seed {seed}): {outcome.verdict}\n{outcome.problem}\n"
                    f"{case.describe()}\n")
            elif verbose:
                say(f"case {i}: {outcome.verdict}: {'; '.join(case.steps)[:150]} | "
                    f"{' | '.join(outcome.commands)}")
    elapsed = time.perf_counter() - start
    say(f"{len(todo)} cases in {elapsed:.0f} s: {counts['rejected']} clean rejections, "
        f"{counts['accepted']} accepted ({counts['ran further than validate']} also run), "
        f"{counts['crash']} crashes, {counts['hang']} hangs; "
        f"{counts['cases with Python warnings']} cases raised Python warnings, "
        f"{counts['known note']} showed the known example-basis note before an error, "
        f"{counts['known crash']} hit the known subnormal-rate crash")
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--extremes", action="store_true",
                        help="also every number of tiny.yaml at each of EXTREMES")
    options = parser.parse_args()
    totals = fuzz(options.cases, options.seed, options.verbose, options.extremes)
    sys.exit(1 if totals["crash"] or totals["hang"] else 0)
