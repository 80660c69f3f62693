"""Data-parallel training over processes: a small context around ``torch.distributed``.

Under ``torchrun --nproc-per-node N`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``), :func:`init_distributed` joins the process group
(``gloo`` on CPU, ``nccl`` on CUDA) and returns a :class:`DistributedContext`: this
process's rank and share of a global batch, its device, a :meth:`~DistributedContext.wrap`
that puts a model in :class:`~torch.nn.parallel.DistributedDataParallel`, and the few
collectives training needs (sums, a consistent stop decision, a broadcast value). Without
``torchrun`` (no ``WORLD_SIZE``, or 1) everything is a no-op in this one process, so
training code is written once::

    with distributed_context() as context:
        model = context.wrap(model)
        share = context.shard(batch_size)      # this rank's windows of the global batch
        ...
        if context.is_main:
            save(...)

A process joins the group once (:func:`init_distributed` finds a group already joined and
uses it; torch cannot join a second one after leaving the first under one torchrun).
Same global batch, same seeds: a run over N processes takes the same steps as one process
up to float rounding (DDP averages the ranks' gradients; :meth:`DistributedContext.shard`
and a loss scaled by the share make that average the gradient of the global mean).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistributedContext",
    "environment",
    "init_distributed",
    "distributed_context",
    "single_process",
    "shutdown",
]


def _integer(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    text = env.get(name)
    if text is None:
        if default is None:
            raise ValueError(f"{name} is not set; run under torchrun, which sets it")
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None


def environment(env: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's variables in ``env`` (default
    ``os.environ``); ``(0, 1, 0)`` when ``WORLD_SIZE`` is not set. ``ValueError`` for
    inconsistent values."""
    env = os.environ if env is None else env
    world = _integer(env, "WORLD_SIZE", 1)
    if world < 1:
        raise ValueError(f"WORLD_SIZE must be at least 1, got {world}")
    if world == 1:
        return 0, 1, _integer(env, "LOCAL_RANK", 0)
    rank = _integer(env, "RANK")
    local_rank = _integer(env, "LOCAL_RANK", rank)
    if not 0 <= rank < world:
        raise ValueError(f"RANK must be in [0, {world}) for WORLD_SIZE={world}, got {rank}")
    if local_rank < 0:
        raise ValueError(f"LOCAL_RANK must be non-negative, got {local_rank}")
    return rank, world, local_rank


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a data-parallel run (one process: rank 0 of 1).

    Attributes:
        rank: this process's rank, ``0 .. world_size - 1``.
        world_size: the number of processes.
        local_rank: the rank on this node (picks the GPU).
        device: the device this rank computes on.
        backend: the process group's backend (``"gloo"``, ``"nccl"``), None for one process.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that prints, shows progress and writes files."""
        return self.rank == 0

    def shard(self, count: int) -> slice:
        """This rank's contiguous share of ``count`` items (shares differ by at most one;
        rank ``r`` gets ``[r count // N, (r + 1) count // N)``). ``ValueError`` if some rank
        would get nothing (``count < world_size``)."""
        if count < self.world_size:
            raise ValueError(
                f"cannot split {count} item(s) over {self.world_size} processes: the global "
                f"batch must be at least the world size"
            )
        return slice(
            self.rank * count // self.world_size, (self.rank + 1) * count // self.world_size
        )

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` (its parameters
        broadcast from rank 0, its gradients averaged over ranks in ``backward``); the model
        itself for one process."""
        if not self.is_distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over ranks (a new tensor; ``tensor`` itself for one process)."""
        if not self.is_distributed:
            return tensor
        total = tensor.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is True on some rank: a stop decision all ranks
        take together (e.g. a time limit each rank measures itself)."""
        if not self.is_distributed:
            return bool(flag)
        value = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def broadcast(self, values: Sequence[float], source: int = 0) -> list[float]:
        """Rank ``source``'s ``values`` on every rank (float64; e.g. a validation score only
        rank 0 computed). Every rank passes a sequence of the same length."""
        if not self.is_distributed:
            return [float(v) for v in values]
        tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        dist.broadcast(tensor, src=source)
        return tensor.tolist()

    def barrier(self) -> None:
        """Wait until every rank reaches this point."""
        if self.is_distributed:
            dist.barrier()


def single_process(device: str | torch.device = "cpu") -> DistributedContext:
    """The context of a run in this one process (every collective a no-op)."""
    return DistributedContext(device=torch.device(device))


def init_distributed(
    device: str | torch.device | None = None, env: Mapping[str, str] | None = None
) -> DistributedContext:
    """Join the process group torchrun describes in ``env`` (default ``os.environ``).

    ``device``: ``"cpu"`` (backend ``gloo``), ``"cuda"`` (backend ``nccl``, this rank's GPU
    ``cuda:LOCAL_RANK``), or None: CUDA if available, else the CPU. With ``WORLD_SIZE``
    unset or 1 nothing is initialised: a :func:`single_process` context. Pair with
    :meth:`shutdown` or use :func:`distributed_context`.
    """
    rank, world, local_rank = environment(env)
    kind = torch.device(device).type if device is not None else None
    if kind is None:
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' asked for, but CUDA is not available")
        target = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(target)
    else:
        target = torch.device("cpu")
    if world == 1:
        return single_process(target)
    backend = "nccl" if kind == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistributedContext(rank, world, local_rank, target, backend)


def shutdown(context: DistributedContext) -> None:
    """Leave the process group (nothing for one process)."""
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def distributed_context(
    device: str | torch.device | None = None, env: Mapping[str, str] | None = None
) -> Iterator[DistributedContext]:
    """:func:`init_distributed` for a ``with`` block; the group is left at its end."""
    context = init_distributed(device, env)
    try:
        yield context
    finally:
        shutdown(context)
