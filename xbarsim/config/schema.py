"""Typed, frozen dataclasses for an accelerator architecture (docs/design.md section 3).

Each field carries its unit in its name and a docstring; range constraints sit in the field
metadata (``ge``/``gt``/``le``) and are enforced by ``xbarsim.config.loader`` at the edge, so the
model never sees an invalid or raw-dict configuration.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from xbarsim.util import ceil_div


def bounded(default: Any, **limits: float) -> Any:
    """A dataclass field with a default and range limits (``ge``, ``gt``, ``le``) for the loader."""
    return field(default=default, metadata=limits)


def required(**limits: float) -> Any:
    """A dataclass field without default, with range limits for the loader."""
    return field(metadata=limits)


class WritePolicy(enum.Enum):
    """How the write controller programs a cell."""

    PROGRAM_VERIFY = "program_verify"
    """Iterative pulse + verify-read until the cell is inside its tolerance window."""
    SINGLE_PASS = "single_pass"
    """One look-up-table-chosen pulse per cell and no verify loop (LUT-based programming)."""


class PulseModel(enum.Enum):
    """Where the number of program-verify pulses per cell comes from."""

    FIXED = "fixed"
    """Every cell needs exactly ``fixed_pulses`` pulses."""
    MEASURED = "measured"
    """Per-cell pulse counts sampled from measured RRAM histograms (RADAR, IEEE TED 2021)."""


class MeasuredAlgorithm(enum.Enum):
    """Which measured program-verify algorithm's pulse histogram to sample."""

    FPPV = "fppv"
    """Fixed-pulse program-verify."""
    ISPP = "ispp"
    """Incremental-step pulse programming."""
    SDR = "sdr"
    """The RADAR paper's scheme."""


class AdcRange(enum.Enum):
    """How the ADC full scale of a column is chosen (functional model and kernel)."""

    FIXED = "fixed"
    """Largest possible sum of the block: rows_in_block * (2**dac-1) * (2**cell-1) levels."""
    CALIBRATED = "calibrated"
    """Largest sum of this column's actual levels: (2**dac-1) * sum(levels), per row block."""


MIN_RATE = 1e-6
"""Smallest clock (GHz) or transfer/operation rate: time is divided by rates, and a subnormal
rate would overflow it."""
MAX_CLOCK_GHZ = 10.0
"""Fastest digital clock (GHz): beyond what any accelerator's logic runs at."""
MAX_ARRAY = 4096
"""Most rows or columns of one crossbar (fabricated RRAM arrays reach about 1024)."""
MAX_CROSSBARS = 2**18
"""Most crossbars on a chip (16 full ISAAC chips); the simulator holds one object per crossbar,
and beyond this a run outgrows the memory of an ordinary machine."""
MAX_NS = 1e6
"""Longest single latency (1 ms): reads, conversions, pulses, verifies, DRAM accesses."""
MAX_KIB = 2**20
"""Largest on-chip memory (1 GiB)."""
MAX_PULSES = 10_000
"""Most pulses per cell (the measured table's worst cell needed 4,181)."""

ADC_BITS_MAX = 32
"""Largest ADC resolution a config or a kernel call may ask for. A bound of the model, not of
hardware: crossbar ADCs above ~10 bits are rarely built, but lossless studies need more (a
200-row block with 8-bit DAC digits and 7-bit cells sums to 23 bits), and the ADC formula stays
exact in float64 far beyond this."""


class WriteCircuits(enum.Enum):
    """Where the write-verify circuits (drivers, verify control) sit: how many crossbars a tile
    writes at once. Listed from fewest circuits to most (``compare`` halves and doubles a
    choice by stepping to the neighbour below or above)."""

    PER_TILE = "per_tile"
    """One per tile: its crossbars are written one at a time."""
    PER_IMA = "per_ima"
    """One per crossbar group sharing input and output registers (``tile.crossbars_per_ima``;
    ISAAC's in-situ MAC units)."""
    PER_CROSSBAR = "per_crossbar"
    """One per crossbar: every crossbar of a tile written at once."""


class Combine(enum.Enum):
    """How the basis dataflow combines projections with coefficients."""

    DIGITAL = "digital"
    """One MAC per nonzero coefficient in the tile's coefficient combiner."""
    ANALOG = "analog"
    """Per coefficient bit-plane, summed bitlines converted once per output group."""


@dataclass(frozen=True, kw_only=True)
class Precision:
    """Operand precisions of the network as run on the chip."""

    weight_bits: int = required(ge=1, le=16)
    """Bits per weight (two's complement)."""
    input_bits: int = required(ge=1, le=16)
    """Bits per activation entering a crossbar (unsigned)."""
    psum_bits: int = bounded(32, ge=1, le=64)
    """Bits of a partial sum moved between row blocks before the final reduction."""


@dataclass(frozen=True, kw_only=True)
class GlobalBuffer:
    """On-chip global buffer between DRAM and the tiles."""

    kib: int = required(gt=0, le=MAX_KIB)
    """Capacity in KiB."""
    bytes_per_cycle: int = required(gt=0)
    """Port width: bytes read or written per clock cycle."""
    energy_pj_per_byte: float = required(ge=0)
    """Dynamic energy per byte read or written."""
    static_mw: float = bounded(0.0, ge=0)
    """Leakage power."""
    area_mm2: float = bounded(0.0, ge=0)
    """Silicon area."""


@dataclass(frozen=True, kw_only=True)
class Noc:
    """Network-on-chip between the global buffer and tiles, and tile to tile."""

    bytes_per_cycle: int = required(gt=0)
    """Link width: bytes a link moves per cycle."""
    hop_cycles: int = required(ge=0)
    """Router + link latency per hop."""
    energy_pj_per_byte: float = required(ge=0)
    """Dynamic energy per byte per hop."""
    static_mw_per_router: float = bounded(0.0, ge=0)
    """Leakage power of one router (one router per tile)."""
    area_mm2_per_router: float = bounded(0.0, ge=0)
    """Area of one router (one router per tile)."""
    multicast: bool = bounded(True)
    """Routers fork a packet to several outputs: data for several tiles crosses each link of
    the tree of their routes once (False: one unicast per destination)."""


@dataclass(frozen=True, kw_only=True)
class Dram:
    """Off-chip memory channel."""

    gbytes_per_s: float = required(ge=MIN_RATE)
    """Sustained bandwidth in GB/s (1e9 bytes per second)."""
    latency_ns: float = required(ge=0, le=MAX_NS)
    """Access latency of one transfer."""
    energy_pj_per_bit: float = required(ge=0)
    """Energy per bit transferred."""
    io_area_mm2: float = bounded(0.0, ge=0)
    """Area of the chip's off-chip link interfaces (PHYs)."""
    io_energy_pj_per_bit: float = bounded(0.0, ge=0)
    """Energy of the chip's off-chip links per bit moved, on top of the memory's own."""
    io_ports: int = bounded(1, ge=1, le=4)
    """Routers the off-chip links enter the tile mesh at: the corners, in the order (0, 0),
    the far corner, then the other two; a transfer uses the port nearest its tile."""


@dataclass(frozen=True, kw_only=True)
class Chip:
    """Chip-level organisation and shared resources."""

    crossbars: int = required(gt=0, le=MAX_CROSSBARS)
    """Total crossbars on the chip (the usual sweep axis)."""
    crossbars_per_tile: int = required(gt=0, le=MAX_CROSSBARS)
    """Crossbars sharing one tile buffer, shift-add units and combiner."""
    global_buffer: GlobalBuffer | None = None
    """Global buffer between DRAM and the tiles; absent (``null``, as in ISAAC and PUMA), the
    activations of every dataflow live in the tile buffers and move over the mesh."""
    noc: Noc = required()
    """Network-on-chip."""
    dram: Dram = required()
    """Off-chip DRAM channel."""

    @property
    def tiles(self) -> int:
        """Tiles holding the crossbars (the last one may be partly filled)."""
        return ceil_div(self.crossbars, self.crossbars_per_tile)


@dataclass(frozen=True, kw_only=True)
class TileBuffer:
    """Per-tile activation/partial-sum buffer (eDRAM in ISAAC)."""

    kib: int = required(gt=0, le=MAX_KIB)
    """Capacity in KiB."""
    reference_kib: int = required(gt=0, le=MAX_KIB)
    """Capacity at which the energies and area below were given: at ``kib`` they scale as a
    memory of that size would (``timing/estimators.py``)."""
    port_bytes_per_cycle: int = required(gt=0)
    """Bytes the port reads or writes per cycle."""
    read_energy_pj_per_byte: float = required(ge=0)
    """Dynamic read energy per byte at ``reference_kib``."""
    write_energy_pj_per_byte: float = required(ge=0)
    """Dynamic write energy per byte at ``reference_kib``."""
    static_mw: float = bounded(0.0, ge=0)
    """Leakage power."""
    area_mm2: float = bounded(0.0, ge=0)
    """Area at ``reference_kib``."""
    activation_share: float = bounded(0.5, gt=0, le=1)
    """Share of the buffer for the live activations and running partial sums kept between
    layers, on a chip without a global buffer (the rest is the working space of the layers
    the tile computes); what exceeds it spills to DRAM."""


@dataclass(frozen=True, kw_only=True)
class ShiftAdd:
    """Shift-and-add units that merge ADC outputs across reads, slices and row blocks."""

    units: int = required(gt=0)
    """Shift-add units per tile."""
    ops_per_cycle: float = bounded(1.0, ge=MIN_RATE)
    """Shift-add operations one unit completes per cycle."""
    energy_pj_per_op: float = required(ge=0)
    """Energy per shift-add operation, at an accumulator of ``reference_bits``."""
    reference_bits: int | None = bounded(None, ge=1, le=64)
    """Accumulator width of ``energy_pj_per_op``; the energy follows ``precision.psum_bits``
    (``timing/estimators.py``). Unset: not scaled."""
    static_mw: float = bounded(0.0, ge=0)
    """Leakage power of all units of a tile."""
    area_mm2: float = bounded(0.0, ge=0)
    """Area of all units of a tile."""


@dataclass(frozen=True, kw_only=True)
class Combiner:
    """Coefficient combiner of the basis dataflow (digital MAC lanes + coefficient buffer)."""

    lanes: int = required(gt=0)
    """MACs per cycle per tile."""
    energy_pj_per_mac: float = required(ge=0)
    """Energy per multiply-accumulate, for operands of ``reference_bits``."""
    reference_bits: int | None = bounded(None, ge=1, le=64)
    """Width of both multiply operands at which ``energy_pj_per_mac`` was given; the energy
    is scaled to each dataflow's operands (``timing/estimators.py``). Unset: not scaled."""
    coeff_buffer_kib: int = required(gt=0, le=MAX_KIB)
    """Coefficient buffer capacity in KiB."""
    coeff_buffer_reference_kib: int = required(gt=0, le=MAX_KIB)
    """Capacity at which the coefficient read energy was given (scaled to ``coeff_buffer_kib``
    as the tile buffer's is)."""
    coeff_read_energy_pj_per_byte: float = required(ge=0)
    """Energy per coefficient byte read."""
    static_mw: float = bounded(0.0, ge=0)
    """Leakage power."""
    area_mm2: float | None = bounded(0.0, ge=0)
    """Area. Unset (null): estimated from the lanes and the buffer with the three areas
    below (``timing/estimators.py``)."""
    multiplier_area_um2: float | None = bounded(None, ge=0)
    """Area of a 32 x 32-bit integer multiplier at the chip's node; a lane's multiplier of
    ``reference_bits`` operands scales as the product of the widths (an array multiplier)."""
    adder_area_um2: float | None = bounded(None, ge=0)
    """Area of a 32-bit adder at the chip's node; a lane's accumulator of
    ``precision.psum_bits`` scales with its width."""
    coeff_buffer_area_mm2_per_kib: float | None = bounded(None, ge=0)
    """Area of the coefficient buffer per KiB of ``coeff_buffer_kib``."""


@dataclass(frozen=True, kw_only=True)
class TilePeriphery:
    """Tile components with no timed model of their own: their area, and their energy charged
    per action of the crossbars they serve."""

    bus_area_mm2: float = bounded(0.0, ge=0)
    """Bus from the tile buffer to the crossbars' input registers."""
    ima_registers_area_mm2: float = bounded(0.0, ge=0)
    """Input and output registers of all crossbar groups (IMAs) of the tile."""
    output_register_area_mm2: float = bounded(0.0, ge=0)
    """The tile's output register."""
    activation_area_mm2: float = bounded(0.0, ge=0)
    """Activation (sigmoid) and max-pool units and the tile-level shift-and-add."""
    input_energy_pj_per_bit: float = bounded(0.0, ge=0)
    """Bus and input register, per input bit driven into a crossbar row (DAC conversions x
    DAC bits)."""
    output_energy_pj_per_conversion: float = bounded(0.0, ge=0)
    """Output registers, activation and pool units, per ADC conversion."""
    core_logic_area_mm2: float = bounded(0.0, ge=0)
    """Programmable-core logic (PUMA: vector units, register files, instruction memories,
    control units, receive buffers)."""
    core_logic_energy_pj_per_conversion: float = bounded(0.0, ge=0)
    """That logic's energy, per ADC conversion (its power at peak over the peak rate)."""
    write_controller_area_mm2: float = bounded(0.0, ge=0)
    """Area of one write-verify controller (its row's write drivers and control; the verify
    reads use the crossbar's own ADCs)."""


@dataclass(frozen=True, kw_only=True)
class Tile:
    """Per-tile digital resources shared by the tile's crossbars."""

    buffer: TileBuffer = required()
    """Activation and partial-sum buffer."""
    shift_add: ShiftAdd = required()
    """Shift-and-add units."""
    combiner: Combiner = required()
    """Basis coefficient combiner."""
    crossbars_per_ima: int = bounded(1, gt=0, le=MAX_CROSSBARS)
    """Crossbars per in-situ MAC unit (IMA): the group that shares an input register, filled
    once per input segment, and output registers (ISAAC: 8). A tile of fewer crossbars is one
    IMA."""
    write_circuits: WriteCircuits = WriteCircuits.PER_TILE
    """Where the write-verify circuits sit: per tile, per IMA or per crossbar; a tile writes
    that many crossbars at once (``timing.hw.write_verify.write_circuits``)."""
    periphery: TilePeriphery = field(default_factory=TilePeriphery)
    """Bus, registers, activation and pool units."""


@dataclass(frozen=True, kw_only=True)
class Dac:
    """Row drivers: one DAC per row."""

    bits: int = required(ge=1, le=16)
    """Input bits applied per read."""
    reference_bits: int | None = bounded(None, ge=1, le=16)
    """Resolution at which the energy and area below were given; at ``bits`` they are scaled
    by ``timing/estimators.py`` (unset: given at ``bits``)."""
    energy_pj_per_row: float = required(ge=0)
    """Energy of one DAC conversion (one row, one read)."""
    area_mm2_per_crossbar: float = bounded(0.0, ge=0)
    """Area of all DACs of one crossbar."""


@dataclass(frozen=True, kw_only=True)
class Adc:
    """Column ADCs, shared by the crossbar's columns."""

    bits: int = required(ge=1, le=ADC_BITS_MAX)
    """Resolution."""
    reference_bits: int = required(ge=1, le=ADC_BITS_MAX)
    """Resolution at which ``power_mw``, ``conversion_ns`` and ``area_mm2`` were measured; at
    ``bits`` they are scaled by the resolution models of ``timing/estimators.py``."""
    count: int = required(gt=0)
    """ADCs per crossbar."""
    conversion_ns: float = required(gt=0, le=MAX_NS)
    """Time of one conversion (1 / sample rate) at ``reference_bits``."""
    power_mw: float = required(ge=0)
    """Active power at ``reference_bits``."""
    energy_pj: float | None = bounded(None, ge=0)
    """Energy per conversion at ``bits``; overrides the estimate when set."""
    area_mm2: float = bounded(0.0, ge=0)
    """Area of one ADC."""
    static_mw: float = bounded(0.0, ge=0)
    """Leakage power of one ADC."""


@dataclass(frozen=True, kw_only=True)
class Crossbar:
    """One RRAM crossbar array with its peripherals."""

    rows: int = required(gt=0, le=MAX_ARRAY)
    """Word lines."""
    cols: int = required(gt=0, le=MAX_ARRAY)
    """Bit lines."""
    cell_bits: int = required(ge=1, le=16)
    """Bits stored per cell."""
    differential: bool = required()
    """Signed weights as differential column pairs (else offset encoding)."""
    read_ns: float = required(gt=0, le=MAX_NS)
    """Analog read (settle + sample-and-hold) of one input slice."""
    read_energy_pj: float | None = bounded(None, ge=0)
    """Array energy of one read with every row driven; charged per driven row (a read of r
    rows costs r / rows of it). Unset: estimated as read_v^2 x G x read_ns."""
    g_min_us: float = required(ge=0)
    """Lowest programmable conductance in microsiemens."""
    g_max_us: float = required(gt=0)
    """Highest programmable conductance in microsiemens."""
    read_v: float = required(gt=0)
    """Read voltage."""
    dac: Dac = required()
    """Row drivers."""
    adc: Adc = required()
    """Column ADCs."""
    area_mm2: float = bounded(0.0, ge=0)
    """Area of the array with sample-and-hold (not DACs/ADCs)."""
    static_mw: float = bounded(0.0, ge=0)
    """Leakage power of array and row/column drivers."""


@dataclass(frozen=True, kw_only=True)
class WriteVerify:
    """RRAM write-verify controller (programming the crossbars)."""

    policy: WritePolicy = required()
    """Programming policy."""
    pulse_ns: float = required(gt=0, le=MAX_NS)
    """Width of one programming pulse."""
    verify_ns: float = required(ge=0, le=MAX_NS)
    """One verify read after a pulse."""
    pulse_model: PulseModel = required()
    """Where per-cell pulse counts come from (program_verify only)."""
    fixed_pulses: int = bounded(1, ge=1, le=MAX_PULSES)
    """Pulses per cell for the ``fixed`` model."""
    measured_algorithm: MeasuredAlgorithm = bounded(MeasuredAlgorithm.SDR)
    """Measured histogram to sample for the ``measured`` model."""
    max_iterations: int | None = bounded(None, ge=1, le=MAX_PULSES)
    """Pulses after which the verify loop gives up on a cell (it then counts as failed);
    unset: no cap."""
    endurance_cycles: float | None = bounded(None, gt=0)
    """Writes a cell survives; with it, ``lifetime_h`` reports how long inference can run."""
    rows_parallel: int = bounded(1, gt=0)
    """Rows of one crossbar written at the same time by one controller."""
    cells_per_row_parallel: int = required(gt=0)
    """Cells of a row pulsed at once; a row needs ceil(cells / this) passes."""
    write_v: float | None = bounded(None, gt=0, le=10)
    """Voltage across a cell during a pulse (needed when ``pulse_energy_pj`` is unset)."""
    pulse_energy_pj: float | None = bounded(None, ge=0)
    """Energy of one pulse on one cell. Unset: write_v^2 x G x pulse_ns."""
    verify_energy_pj: float | None = bounded(None, ge=0)
    """Energy of one verify read of one cell. Unset: the cell's share of a one-row read
    (array energy per row / cols) plus one ADC conversion."""
    tolerance: float = required(gt=0, le=0.5)
    """Acceptance window half-width as a fraction of the conductance range."""
    single_pass_window: float = bounded(0.1, gt=0, le=1)
    """Residual window half-width of a one-shot ``single_pass`` write (no verify loop bounds it),
    fraction of the conductance range; the default 0.1 is an assumption [A]."""


@dataclass(frozen=True, kw_only=True)
class Analog:
    """Device non-idealities for the functional model; all zero in an ideal chip."""

    read_noise_sigma: float = bounded(0.0, ge=0, le=1)
    """Read-noise std-dev per read, as a fraction of the conductance range."""
    stuck_on_rate: float = bounded(0.0, ge=0, le=1)
    """Fraction of cells stuck at g_max."""
    stuck_off_rate: float = bounded(0.0, ge=0, le=1)
    """Fraction of cells stuck at g_min."""
    drift_nu: float = bounded(0.0, ge=0, le=1)
    """Power-law drift exponent: G(t) = G0 (t / t0)^-nu."""
    drift_t_s: float = bounded(1.0, gt=0)
    """Time since programming, seconds."""
    drift_t0_s: float = bounded(1.0, gt=0)
    """Reference time of the drift law, seconds."""
    wire_ohm: float = bounded(0.0, ge=0)
    """Wire resistance per cell segment for the first-order IR-drop model."""
    programming_error: bool = bounded(True)
    """Apply the residual programming error implied by write_verify.tolerance."""
    adc_range: AdcRange = bounded(AdcRange.FIXED)
    """ADC full-scale policy."""


@dataclass(frozen=True, kw_only=True)
class Basis:
    """Basis-combination dataflow options."""

    combine: Combine = bounded(Combine.DIGITAL)
    """Where projections are combined with coefficients."""


class Replication(enum.Enum):
    """How the static dataflow uses crossbars left over after one copy of every layer."""

    NONE = "none"
    """One copy of every layer; spare crossbars stay idle."""
    BALANCE = "balance"
    """Extra copies for the slowest layers until the spare crossbars run out (ISAAC)."""


@dataclass(frozen=True, kw_only=True)
class Mapping:
    """How layers are placed on the crossbars."""

    replication: Replication = bounded(Replication.BALANCE)
    """Static dataflow: replicate layers on spare crossbars to balance the pipeline."""


@dataclass(frozen=True, kw_only=True)
class Arch:
    """A whole accelerator architecture."""

    name: str = required()
    """Short name used in reports."""
    clock_ghz: float = required(ge=MIN_RATE, le=MAX_CLOCK_GHZ)
    """Digital clock; every latency is converted once, with ceil, to these cycles."""
    precision: Precision = required()
    """Operand precisions."""
    chip: Chip = required()
    """Chip organisation."""
    tile: Tile = required()
    """Per-tile resources."""
    crossbar: Crossbar = required()
    """Crossbar arrays."""
    write_verify: WriteVerify = required()
    """Programming controller."""
    analog: Analog = field(default_factory=Analog)
    """Functional non-idealities."""
    basis: Basis = field(default_factory=Basis)
    """Basis dataflow options."""
    mapping: Mapping = field(default_factory=Mapping)
    """Layer placement options."""
