"""Arrays in, tensors inside, arrays out: device, dtype and randomness helpers.

Nothing here knows about estimators; the estimators call these helpers so that
every reducer treats input, devices and seeds the same way.
"""

from __future__ import annotations

import functools
import mmap
import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn import get_config
from sklearn.utils import check_random_state


def resolve_device(device):
    """Turn a ``device`` parameter into a :class:`torch.device`.

    ``"auto"`` picks CUDA when it is available and the CPU otherwise.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda' "
            "or 'cuda:N'."
        ) from exc
    if device.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device={str(device)!r} is not supported; use 'auto', 'cpu', 'cuda' "
            "or 'cuda:N'."
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but CUDA is not available; "
            "use device='cpu' or device='auto'."
        )
    return device


def resolve_autocast_dtype(precision, device):
    """The autocast dtype of a ``precision`` parameter on ``device``, or None.

    ``"auto"`` trains in bfloat16 where the hardware computes it natively (a
    CUDA device that supports it; a CPU with AVX512-BF16 or AMX), and in
    float32 elsewhere, where bfloat16 would be emulated and slower.
    """
    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if _cpu_has_native_bf16() else None


@functools.cache
def _cpu_has_native_bf16():
    """Whether this CPU multiplies bfloat16 in hardware (Linux: /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def make_generator(random_state, device="cpu"):
    """A private :class:`torch.Generator` seeded from ``random_state``.

    Seeding a private generator, never ``torch.manual_seed``, keeps the global
    torch random state untouched. ``None`` draws the seed from numpy's global
    state, as scikit-learn does.
    """
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return torch.Generator(device=device).manual_seed(int(seed))


def is_tensor(X):
    return isinstance(X, torch.Tensor)


def to_numpy(X):
    """A CPU numpy view (or copy, from GPU memory) of a tensor; anything else as is.

    Other inputs (lists, DataFrames, sparse matrices) are left for scikit-learn's
    validation to convert or reject with its usual messages.
    """
    if not is_tensor(X):
        return X
    if X.device.type == "meta":
        raise ValueError("X is a tensor on the 'meta' device, which holds no data.")
    if X.dtype in (torch.bfloat16, torch.float16):
        # numpy has no bfloat16; half precision is widened as sklearn would.
        X = X.float()
    return X.detach().cpu().numpy()


def to_tensor(X, device, dtype=None):
    """A tensor on ``device``, sharing memory with ``X`` where it can."""
    if is_tensor(X):
        return X.to(device=device, dtype=dtype)
    with warnings.catch_warnings():
        # Read-only arrays (memory maps) are fine: inputs are never written to.
        warnings.filterwarnings(
            "ignore", message="The given NumPy array is not writable"
        )
        # torch cannot view negative strides; contiguous arrays are not copied.
        tensor = torch.from_numpy(np.ascontiguousarray(X))
    return tensor.to(device=device, dtype=dtype)


def like_input(out, X):
    """Return ``out`` (numpy) as a tensor on ``X``'s device when ``X`` is one.

    A tensor in gives a tensor out, so that torch users stay in torch; any other
    input gives numpy, which downstream scikit-learn estimators expect.
    """
    if is_tensor(X):
        return torch.as_tensor(out, device=X.device)
    return out


# splitmix64 (Steele, Lea & Flood, 2014): the golden-ratio increment of its
# counter and the two multipliers of its finaliser.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(z):
    """splitmix64's finaliser: a bijection of uint64 that scrambles every bit.

    Arithmetic is modulo 2**64 on purpose; the caller silences the overflow
    warnings that numpy gives for it.
    """
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def row_noise(X, n_draws, n_dims, seed, first_draw=0):
    """Standard normal noise that each row of ``X`` owns, whatever its neighbours.

    The noise of a row is a deterministic function of that row's values,
    ``seed``, the draw and the dimension only: identical rows get identical
    noise, distinct rows get (pseudo-)independent noise, and a row's noise does
    not change when rows are reordered, added or removed. Monte Carlo
    estimates computed with it (the ELBO of :meth:`VAETransformer.score_samples`)
    are thus reproducible per sample, as scikit-learn's checks require, and
    their errors still average out over samples, which one noise vector shared
    by every row ("common random numbers") does not do.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Real data, any memory layout. It is hashed as float32 (after
        turning ``-0.0`` into ``0.0``), so a float64 array and its float32
        copy get the same noise; so do float64 rows that differ only beyond
        float32 precision.
    n_draws : int
        Number of independent noise vectors per row (importance samples).
    n_dims : int
        Length of each noise vector (latent dimensions).
    seed : int
        A non-negative integer; different seeds give independent noise.
    first_draw : int, default=0
        Index of the first draw returned: draws ``first_draw`` to
        ``first_draw + n_draws - 1``, so that many draws can be made a few
        at a time.

    Returns
    -------
    noise : ndarray of shape (n_draws, n_samples, n_dims), dtype float32
        Standard normal draws. Draw ``d`` of a row does not depend on
        ``n_draws``, so asking for more draws only appends new ones.

    Notes
    -----
    Each row's float32 bit patterns (as integers) are hashed twice with
    seed-derived random odd 64-bit multipliers, summed modulo 2**64 (a
    multilinear hash, whose collision probability for two distinct rows is
    below 2**-32 each), and the two hashes are combined through the splitmix64
    finaliser. The hash ``h`` seeds a counter-based generator: uniform number
    ``c`` of the row is ``splitmix64(h + (c + 1) * 0x9E3779B97F4A7C15)``, from
    whose top 53 bits an open-interval uniform is turned into a normal with
    :func:`scipy.special.ndtri`. Everything is vectorised over rows; memory is
    a few times ``8 * n_draws * n_samples * n_dims`` bytes, and since rows are
    independent a caller may generate the noise block by block.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [2.0, 3.0], [0.0, 1.0]])
    >>> noise = row_noise(X, n_draws=2, n_dims=3, seed=0)
    >>> noise.shape, noise.dtype
    ((2, 3, 3), dtype('float32'))
    >>> bool(np.array_equal(noise[:, 0], noise[:, 2]))  # identical rows
    True
    >>> bool(np.array_equal(row_noise(X[::-1], 2, 3, seed=0), noise[:, ::-1]))
    True
    """
    from scipy.special import ndtri

    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got an array of shape {X.shape}.")
    for name, value in (
        ("n_draws", n_draws),
        ("n_dims", n_dims),
        ("seed", seed),
        ("first_draw", first_draw),
    ):
        if not isinstance(value, Integral) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
    n_samples, n_features = X.shape
    n_draws, n_dims = int(n_draws), int(n_dims)

    # float32 bits, so float64 and float32 copies agree; adding +0.0 turns
    # -0.0 into 0.0, which compare equal but have different bits.
    X32 = np.ascontiguousarray(X, dtype=np.float32) + np.float32(0.0)
    bits = X32.view(np.uint32)
    rng = np.random.default_rng(seed)
    # Odd multipliers are invertible modulo 2**64, so no feature is ignored.
    multipliers = rng.integers(0, 2**64, (n_features, 2), np.uint64, endpoint=False)
    multipliers |= np.uint64(1)
    offsets = rng.integers(0, 2**64, 2, np.uint64, endpoint=False)
    with np.errstate(over="ignore"):
        # uint64 matmul wraps modulo 2**64, which the hash wants. Two
        # independent hashes, because one may collide with probability ~2**-32
        # per pair of rows, too often for millions of pairs.
        h = bits.astype(np.uint64) @ multipliers + offsets  # (n_samples, 2)
        h = _splitmix64(_splitmix64(h[:, 0]) + h[:, 1])
        first = int(first_draw) * n_dims + 1
        counters = np.arange(first, first + n_draws * n_dims, dtype=np.uint64)
        counters *= _GOLDEN
        u64 = _splitmix64(h[:, None] + counters)  # (n_samples, n_draws * n_dims)
    # The top 53 bits, centred in their cell, give a float64 uniform in (0, 1)
    # that is never 0 or 1, where ndtri would be infinite.
    u = ((u64 >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    noise = ndtri(u).astype(np.float32).reshape(n_samples, n_draws, n_dims)
    return np.ascontiguousarray(noise.transpose(1, 0, 2))


# ---------------------------------------------------------------------------
# Data larger than memory. An array is read block by block when a working
# copy of it would exceed scikit-learn's ``working_memory`` (the budget its
# own chunked computations respect; ``sklearn.config_context`` sets it).
# Memory-mapped arrays are read the same way, and the pages of each block are
# handed back to the operating system once read, so that reading a file
# larger than RAM does not fill this process's resident memory with it.


def working_memory_bytes():
    """scikit-learn's ``working_memory`` setting, in bytes."""
    return int(get_config()["working_memory"] * 2**20)


def working_dtype(dtype):
    """The floating dtype validation would give an array of ``dtype``."""
    dtype = np.dtype(dtype)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def is_out_of_core(X):
    """Whether ``X`` is a NumPy array (a memory map included) to read in blocks.

    True when a floating copy of it would not fit the working memory. Any
    other input (lists, tensors, sparse matrices, DataFrames) is validated as
    a whole, as before.
    """
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype.kind not in "biuf":
        return False
    return X.size * working_dtype(X.dtype).itemsize > working_memory_bytes()


class LazyRows:
    """A 2-D array whose rows are read, converted and checked one block at a time.

    Slicing rows (``X[a:b]``) returns a C-contiguous array of ``dtype``,
    checked for NaN and infinity, so code written for validated arrays
    (``X.shape``, ``X.dtype``, ``X[a:b]``) works unchanged on data larger
    than memory. Nothing else is supported: a whole-array operation on it
    is a bug.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Any real dtype; a :class:`numpy.memmap` is read without keeping its
        pages resident.
    input_name : str
        Names the data in error messages.
    """

    def __init__(self, X, input_name="X"):
        self.data = X
        self.shape = X.shape
        self.ndim = 2
        self.dtype = working_dtype(X.dtype)
        self.input_name = input_name
        self._release = _page_releaser(X)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows):
        if not isinstance(rows, slice):
            raise TypeError(f"LazyRows reads slices of rows, not {rows!r}.")
        block = np.asarray(self.data[rows], dtype=self.dtype, order="C")
        # A bounds check, not np.shares_memory's exact (and possibly slow)
        # search: a converted block never overlaps, a view always does.
        if np.may_share_memory(block, self.data):
            block = block.copy()  # the pages are released below; keep no view
        self._release(rows)
        if not np.isfinite(block).all():
            where = f" (in rows from {rows.start})" if rows.start else ""
            kind = "NaN" if np.isnan(block).any() else "infinity"
            raise ValueError(
                f"Input {self.input_name} contains {kind}{where}; remove or impute "
                "such values first."
            )
        return block

    def block_rows(self, copies=4):
        """Rows per block such that ``copies`` copies of a block fit the budget.

        Count the block's pages in a memory map as one of them: reading a
        block touches them, and they are released only after its copy.
        """
        row_bytes = self.shape[1] * self.dtype.itemsize * copies
        return int(max(1, working_memory_bytes() // max(row_bytes, 1)))

    def iter_blocks(self, rows=None):
        """Yield ``(start, block)`` over consecutive blocks of ``rows`` rows."""
        rows = rows or self.block_rows()
        for start in range(0, self.shape[0], rows):
            yield start, self[start : start + rows]


def _page_releaser(X):
    """A function of a slice of rows that drops ``X``'s pages for those rows.

    For a memory-mapped file, the pages are returned with ``MADV_DONTNEED``
    (they stay in the page cache, so reading them again is cheap, but no
    longer count in this process). Only for shared or read-only mappings,
    as the :class:`numpy.memmap` that ``X`` is or views says: a
    copy-on-write map (mode "c") would lose its writes, and so would a map
    whose mode is unknown. A no-op elsewhere.
    """
    base, mode = X, None
    while isinstance(base, np.ndarray):
        if mode is None and isinstance(base, np.memmap):
            mode = base.mode
        base = base.base
    if (
        not isinstance(base, mmap.mmap)
        or mode not in ("r", "r+", "w+")
        or not hasattr(mmap, "MADV_DONTNEED")
    ):
        return lambda rows: None
    start = np.frombuffer(base, dtype=np.uint8).__array_interface__["data"][0]
    page = mmap.PAGESIZE

    def address(view):
        return view.__array_interface__["data"][0] - start

    def release(rows):
        part = X[rows]
        if part.size == 0:
            return
        ends = address(part[:1, :1]), address(part[-1:, -1:])
        lo, hi = min(ends), max(ends) + part.itemsize
        lo -= lo % page
        try:
            base.madvise(mmap.MADV_DONTNEED, lo, min(hi, len(base)) - lo)
        except (OSError, ValueError):
            pass  # advice, not a requirement

    return release


class RowStream:
    """Chosen rows of a :class:`LazyRows`, read in buffers of whole chunks.

    The rows are cut into chunks of ``chunk_rows`` consecutive rows (the
    last may be shorter); a stream holds some of those chunks (training or
    validation rows) and yields them as tensors through ``prepare``, at most
    ``buffer_chunks`` chunks at a time. Reading whole chunks keeps reads
    sequential on disk; drawing the chunks of each buffer at random mixes
    rows from the whole array, so a file sorted by class still gives
    batches of every class.

    Parameters
    ----------
    rows : LazyRows
    chunks : ndarray of int
        Indices of the chunks in this stream.
    chunk_rows, buffer_chunks : int
    prepare : callable
        Turns a float32 buffer (ndarray) into the tensor training uses; it
        may overwrite the buffer.
    device : torch.device
        Where ``prepare`` puts its tensors.
    """

    def __init__(self, rows, chunks, chunk_rows, buffer_chunks, prepare, device):
        self.rows, self.chunks = rows, np.sort(np.asarray(chunks, dtype=np.int64))
        self.chunk_rows, self.buffer_chunks = int(chunk_rows), int(buffer_chunks)
        self.prepare, self.device = prepare, device
        n = rows.shape[0]
        last = (n - 1) // self.chunk_rows  # the one chunk that may be short
        n_rows = len(self.chunks) * self.chunk_rows
        if len(self.chunks) and self.chunks[-1] == last:
            n_rows -= (last + 1) * self.chunk_rows - n
        self.shape = (int(n_rows), rows.shape[1])

    def buffers(self, generator=None):
        """Yield the rows as tensors: in order, or in random chunks (``generator``)."""
        order = self.chunks
        if generator is not None:
            perm = torch.randperm(
                len(order), generator=generator, device=generator.device
            )
            order = order[perm.cpu().numpy()]
        # One float32 array, filled anew for each buffer: allocating one per
        # buffer lets the C allocator of a multi-threaded process keep the
        # freed ones (measured: 3.8 GB instead of 1.2 GB for 1 M MNIST rows).
        # ``prepare`` may work on it in place; it is refilled only when the
        # caller asks for the next buffer.
        size = min(self.buffer_chunks * self.chunk_rows, self.shape[0])
        buffer = np.empty((size, self.shape[1]), dtype=np.float32)
        for start in range(0, len(order), self.buffer_chunks):
            # Sorted, so that the file is read forwards within a buffer.
            filled = 0
            for chunk in np.sort(order[start : start + self.buffer_chunks]):
                block = self._read(chunk)
                with np.errstate(over="ignore"):  # beyond float32: the caller's
                    buffer[filled : filled + len(block)] = block
                filled += len(block)
            yield self.prepare(buffer[:filled])

    def _read(self, chunk):
        start = int(chunk) * self.chunk_rows
        return self.rows[start : start + self.chunk_rows]
