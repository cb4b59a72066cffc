"""The one experiment executor: every grid and batch of jobs runs through :class:`Executor`.

    options = ExecutorOptions.from_args(args)           # --executor, --address, --workers
    with Executor(options, setup=(load_tables, (path,)), shared=(args, context)) as executor:
        for item, result in executor.map(run_one, items, bar=bar):
            write(result)                                # the driver writes every result

Backends:

* ``local`` (default): ``workers`` spawned processes on this machine; ``workers == 1`` runs in this
  process. Spawned, not forked: forking after torch has started threads can deadlock.
* ``ray``: tasks on a Ray cluster. ``address`` = ``HOST:PORT`` of a running head (``ray start
  --head`` prints it) or ``auto`` (the cluster running on this machine); without an address a
  private local Ray instance with ``workers`` CPUs is started and stopped again. Every node needs
  the repository and the same Python environment at the same path as the driver (a shared file
  system or the same checkout); workers import the project from the driver's repository root.

A task is ``function(shared, item)``. ``shared`` (the run config, a pretrained model, ...) travels
once per worker process, not once per task; ``setup(*args)`` runs once per worker process before
its first task (loading a benchmark table, say). Every task gets ``threads`` CPU threads (torch,
BLAS and OpenMP limited to it, in the worker only: the driver's environment is not touched), so a
result is the same whichever backend or worker computed it. ``gpus`` > 0 (Ray only) reserves that
many GPUs per task; the task sees them as ``cuda`` devices (:func:`task_device`).

Faults: a worker process that dies (killed, out of memory) is replaced and its task rerun, up to
``MAX_ATTEMPTS`` times; a task that raises :class:`~preprocessing.errors.InputError` cancels every
other task and the error is raised at once; any other exception is recorded and the remaining
tasks still run, then :class:`TasksFailed` lists every failed task. Results come back to the
driver, which writes them: workers never write results, so a worker's disk need not be the
driver's and a killed task leaves nothing behind.
"""
from __future__ import annotations

import _thread
import contextlib
import importlib
import os
import sys
import threading
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from preprocessing.errors import InputError

BACKENDS = ("local", "ray")
CONNECT_TIMEOUT_S = 60  # ray.init takes seconds; longer means a wrong address or a missing auth token
MAX_ATTEMPTS = 3  # runs of one task whose worker process died before the task counts as failed
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ExecutorOptions:
    """Where tasks run and what each one gets."""

    backend: str = "local"
    workers: int = 2  # local processes, or the CPUs of a private local Ray instance
    address: str | None = None  # Ray cluster to join (HOST:PORT or auto); None = start a local instance
    threads: int = 1  # CPU threads per task (Ray: CPUs reserved per task)
    gpus: float = 0.0  # GPUs per task (Ray only)

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise InputError(f"--executor {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if self.workers < 1 or self.threads < 1:
            raise InputError("--workers and the threads per task must be at least 1")
        if self.address is not None and self.backend != "ray":
            raise InputError(f"--address {self.address} names a Ray cluster: add --executor ray")
        if self.gpus < 0:
            raise InputError(f"--gpus-per-task must be >= 0, got {self.gpus}")
        if self.gpus > 0 and self.backend != "ray":
            raise InputError("--gpus-per-task needs --executor ray (without --address it starts a Ray instance "
                             "that uses this machine's GPUs)")

    @classmethod
    def from_args(cls, args, threads: int = 1) -> "ExecutorOptions":
        options = cls(backend=args.executor, workers=args.workers, address=args.address, threads=threads,
                      gpus=float(getattr(args, "gpus_per_task", 0.0)))
        options.check()
        return options


def add_arguments(parser, workers_default: int = 2, gpus: bool = False) -> None:
    """The executor flags of an entry point (``--workers``, ``--executor``, ``--address``[, ``--gpus-per-task``])."""
    parser.add_argument("--workers", type=int, default=workers_default,
                        help=f"parallel tasks on this machine: local processes (1 = in this process), or the CPUs "
                             f"of the local Ray instance that --executor ray starts without --address "
                             f"(default {workers_default}); on a cluster every CPU of every node is used")
    parser.add_argument("--executor", choices=BACKENDS, default="local",
                        help="where tasks run: 'local' = processes on this machine (default), 'ray' = a Ray cluster "
                             "(see --address); results are identical, one thread per task either way")
    parser.add_argument("--address", default=None, metavar="HOST:PORT",
                        help="with --executor ray: the Ray head to join (the address `ray start --head` prints) or "
                             "'auto' for the cluster running on this machine; default: start a local Ray instance "
                             "with --workers CPUs")
    if gpus:
        parser.add_argument("--gpus-per-task", type=float, default=0.0,
                            help="GPUs each training task reserves (default 0 = train on CPU); needs --executor ray, "
                                 "tasks then run only on nodes with free GPUs")


class TasksFailed(RuntimeError):
    """Some tasks raised; the message lists each of them (the others' results were delivered)."""


class _WorkerDied(Exception):
    """A task's worker process died under it."""


def task_device() -> str:
    """The torch device a task should use: ``cuda`` when the executor gave it a GPU, else ``cpu``."""
    return "cuda" if _PROCESS.get("gpus", 0) > 0 else "cpu"


# ----------------------------------------------------------------------------- worker side

_PROCESS: dict = {}  # per worker process: setups done, shared values received, the task's GPU share


def _limit_threads(threads: int):
    """Limit torch, BLAS and OpenMP to ``threads`` in this process; returns a callable undoing it."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None  # before OpenMP is limited: torch reads it
    limits = threadpool_limits(limits=threads)
    if torch is not None:
        torch.set_num_threads(threads)

    def undo() -> None:
        limits.restore_original_limits()
        if before is not None:
            torch.set_num_threads(before)

    return undo


def _worker_process_init(threads: int) -> None:
    """A fresh worker process: ``threads`` threads for everything, also for libraries imported later."""
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    _limit_threads(threads)


def _ensure_setup(setup) -> None:
    if setup is None:
        return
    function, args = setup
    key = (function.__module__, function.__qualname__, repr(args))
    if _PROCESS.get("setup") != key:
        function(*args)
        _PROCESS["setup"] = key


def _local_init(threads: int, setup, shared) -> None:
    _worker_process_init(threads)
    _ensure_setup(setup)
    _PROCESS["shared"] = shared


def _local_task(function, item):
    return function(_PROCESS["shared"], item)


def _ray_task(function, setup, shared_box: list, threads: int, gpus: float, item):
    """One task in a Ray worker; ``shared_box`` = [ObjectRef] (boxed so that Ray does not resolve it
    for every task: the value is fetched once per worker process)."""
    import ray

    if _PROCESS.get("threads") != threads:
        _worker_process_init(threads)
        _PROCESS["threads"] = threads
    _ensure_setup(setup)
    ref = shared_box[0]
    if _PROCESS.get("shared_id") != ref.hex():
        _PROCESS["shared"], _PROCESS["shared_id"] = ray.get(ref), ref.hex()
    _PROCESS["gpus"] = gpus
    return function(_PROCESS["shared"], item)


# ----------------------------------------------------------------------------- driver side

def importable(function: Callable) -> Callable:
    """``function`` itself, or, when it was defined in ``__main__`` (``python -m package.module``), the same
    function of that module imported by its name: workers on other machines find it by that name, and its
    per-process state (module globals) is then that module's, not a pickled copy."""
    if function.__module__ != "__main__":
        return function
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None:
        raise RuntimeError(f"task function {function.__qualname__} is defined in a script; move it into a module")
    module = importlib.import_module(spec.name)
    for part in function.__qualname__.split("."):
        module = getattr(module, part)
    return module


def _worker_traceback(exc: BaseException) -> str:
    """The traceback of a task's exception where it was raised: the worker's, which the driver's lacks."""
    cause = exc.__cause__
    remote = getattr(cause, "tb", None) or getattr(cause, "traceback_str", None)  # concurrent.futures / Ray
    return remote or "".join(traceback.format_exception(exc))


class _InProcess:
    """workers == 1: tasks run here, one after another, with the same thread limits as a worker."""

    def __init__(self, options: ExecutorOptions, setup, shared):
        self.options, self.setup, self.shared = options, setup, shared
        self._queue: list = []

    retries_here = False

    def capacity(self, n_items: int) -> int:
        return 1

    def submit(self, function, item):
        self._queue.append((function, item))
        return len(self._queue) - 1

    def wait(self, pending: list) -> list:
        return [pending[0]]

    def result(self, handle):
        function, item = self._queue[handle]
        undo = _limit_threads(self.options.threads)
        try:
            _ensure_setup(self.setup)
            return function(self.shared, item)
        finally:
            undo()

    def cancel(self, pending: list) -> None:
        pass

    def close(self) -> None:
        pass


class _LocalPool:
    """Spawned processes; a pool broken by a dead worker is replaced and its tasks resubmitted."""

    def __init__(self, options: ExecutorOptions, setup, shared):
        self.options, self.setup, self.shared = options, setup, shared
        self._pool = None
        self._generation = 0

    retries_here = True  # a dead process breaks the whole pool: this executor resubmits its tasks

    def capacity(self, n_items: int) -> int:
        return self.options.workers  # no queue in the pool: a broken pool then only ran the tasks it held

    def _ensure_pool(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.options.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_local_init,
                                             initargs=(self.options.threads, self.setup, self.shared))
            self._generation += 1
        return self._pool

    def submit(self, function, item):
        future = self._ensure_pool().submit(_local_task, function, item)
        future.generation = self._generation
        return future

    def wait(self, pending: list) -> list:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, future):
        from concurrent.futures.process import BrokenProcessPool

        try:
            return future.result()
        except BrokenProcessPool:
            if future.generation == self._generation:  # the first of its pool's tasks to report: replace the pool
                self._shutdown(kill=True)
            raise _WorkerDied from None

    def cancel(self, pending: list) -> None:
        self._shutdown(kill=True)

    def _shutdown(self, kill: bool) -> None:
        if self._pool is None:
            return
        processes = list((self._pool._processes or {}).values())  # no public handle on the worker processes
        self._pool.shutdown(wait=not kill, cancel_futures=True)
        if kill:
            for process in processes:
                process.kill()
            for process in processes:
                process.join()
        self._pool = None

    def close(self) -> None:
        self._shutdown(kill=False)


def _check_reachable(address: str) -> None:
    """InputError unless something listens at ``HOST:PORT`` (Ray itself retries a dead address for minutes)."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--address {address!r}: give HOST:PORT of the Ray head (as `ray start --head` prints it) "
                         f"or 'auto'")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        raise InputError(f"no Ray head answers at --address {address} ({exc.strerror or exc}); start one there with "
                         f"`ray start --head --port {port}` or fix the address") from None


@contextlib.contextmanager
def _deadline(seconds: float):
    """Raise TimeoutError in this (main) thread if the block runs longer than ``seconds``: ray.init retries
    an unanswered or refused (unauthenticated) connection for minutes."""
    state = {"inside": True}
    lock = threading.Lock()

    def expire() -> None:
        with lock:
            if state["inside"]:
                state["expired"] = True
                _thread.interrupt_main()

    timer = threading.Timer(seconds, expire)
    timer.start()
    try:
        yield
    except KeyboardInterrupt:
        if state.get("expired"):
            raise TimeoutError from None
        raise
    finally:
        with lock:
            state["inside"] = False
        timer.cancel()


class _RayCluster:
    """Tasks on a Ray cluster (joined at ``address``) or on a private local Ray instance."""

    def __init__(self, options: ExecutorOptions, setup, shared):
        import logging

        import ray

        self.options, self.setup = options, setup
        runtime_env = {"env_vars": {"PYTHONPATH": str(REPO_ROOT),
                                    **{name: str(options.threads) for name in THREAD_VARIABLES}}}
        if options.address not in (None, "auto"):
            _check_reachable(options.address)
        where = "a local Ray instance" if options.address is None else f"the Ray cluster at --address {options.address}"
        try:
            if options.address is None:
                ray.init(address="local", num_cpus=options.workers, include_dashboard=False,
                         runtime_env=runtime_env, log_to_driver=False, logging_level=logging.ERROR)
            else:
                with _deadline(CONNECT_TIMEOUT_S):
                    ray.init(address=options.address, runtime_env=runtime_env, log_to_driver=False,
                             logging_level=logging.ERROR)
        except TimeoutError:
            raise InputError(f"no answer from {where} within {CONNECT_TIMEOUT_S} s; if the head uses token "
                             f"authentication (Ray turns it on once ~/.ray/auth_token exists), export RAY_AUTH_MODE=token "
                             f"and RAY_AUTH_TOKEN=<`ray get-auth-token` on the head> here") from None
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise InputError(f"cannot connect to {where}: " + str(exc).splitlines()[0]) from None
        self._ray = ray
        if options.gpus > 0 and max((node["Resources"].get("GPU", 0) for node in ray.nodes() if node["Alive"]),
                                    default=0) < options.gpus:
            ray.shutdown()  # Ray would queue such tasks forever
            raise InputError(f"--gpus-per-task {options.gpus:g}: no node of {where} has that many GPUs; start GPU "
                             f"workers with `ray start --address HEAD:PORT --num-gpus N` or drop the flag")
        self._shared_box = [ray.put(shared)]
        self._remote = ray.remote(_ray_task).options(num_cpus=options.threads, num_gpus=options.gpus,
                                                     max_retries=MAX_ATTEMPTS - 1, retry_exceptions=False)

    retries_here = False  # Ray reruns a task whose worker died (max_retries)

    def capacity(self, n_items: int) -> int:
        return n_items  # Ray queues them and places each where its CPUs / GPUs are free

    def submit(self, function, item):
        return self._remote.remote(function, self.setup, self._shared_box, self.options.threads, self.options.gpus,
                                   item)

    def wait(self, pending: list) -> list:
        done, _ = self._ray.wait(pending, num_returns=1)
        return done

    def result(self, ref):
        from ray import exceptions

        try:
            return self._ray.get(ref)
        except exceptions.RayTaskError as exc:
            raise exc.cause from exc  # the RayTaskError keeps the worker's traceback
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.ObjectLostError):
            raise _WorkerDied from None  # Ray already retried it MAX_ATTEMPTS - 1 times

    def cancel(self, pending: list) -> None:
        for ref in pending:
            self._ray.cancel(ref, force=True)

    def close(self) -> None:
        self._ray.shutdown()  # stops a private instance; from a cluster, only disconnects


class Executor:
    """Runs ``function(shared, item)`` for batches of items on the chosen backend; see the module docstring.

    The backend starts at the first :meth:`map` and lives until :meth:`close` (or the ``with``
    block's end), so a caller that maps many small batches pays the start-up once.
    """

    def __init__(self, options: ExecutorOptions = ExecutorOptions(), setup: tuple[Callable, tuple] | None = None,
                 shared: Any = None):
        options.check()
        self.options, self.shared = options, shared
        self.setup = None if setup is None else (importable(setup[0]), tuple(setup[1]))
        self._backend = None

    def start(self):
        """Start the backend now (else the first :meth:`map` does): connection errors surface here."""
        if self._backend is None:
            if self.options.backend == "ray":
                self._backend = _RayCluster(self.options, self.setup, self.shared)
            elif self.options.workers == 1:
                self._backend = _InProcess(self.options, self.setup, self.shared)
            else:
                self._backend = _LocalPool(self.options, self.setup, self.shared)
        return self._backend

    def map(self, function: Callable, items: Iterable, *, bar=None,
            label: Callable[[Any], str] = str) -> Iterator[tuple[Any, Any]]:
        """Yield ``(item, function(shared, item))`` in completion order; ``bar`` (a tqdm) advances per task.

        ``function`` must be a module-level function (workers import it by name). An
        :class:`InputError` from a task cancels the rest and is raised; after all tasks,
        :class:`TasksFailed` is raised if any task failed otherwise (``label(item)`` names it).
        """
        items = list(items)
        if not items:
            return
        backend = self.start()
        function = importable(function)
        attempts = [0] * len(items)
        queue = deque(range(len(items)))
        handles: dict = {}
        failures: list[str] = []
        first_traceback = ""
        try:
            while queue or handles:
                while queue and len(handles) < backend.capacity(len(items)):
                    index = queue.popleft()
                    attempts[index] += 1
                    handles[backend.submit(function, items[index])] = index
                for handle in backend.wait(list(handles)):
                    index = handles.pop(handle)
                    try:
                        result = backend.result(handle)
                    except InputError:  # bad input: no other task can succeed either (cancelled below)
                        raise
                    except _WorkerDied:
                        if attempts[index] < MAX_ATTEMPTS and backend.retries_here:
                            queue.appendleft(index)
                            continue
                        failures.append(f"{label(items[index])}: its worker process died {MAX_ATTEMPTS} times "
                                        f"(killed, or out of memory?)")
                    except Exception as exc:  # noqa: BLE001 - recorded, reported after the other tasks
                        failures.append(f"{label(items[index])}: " + "".join(
                            traceback.format_exception_only(type(exc), exc)).strip())
                        first_traceback = first_traceback or _worker_traceback(exc)
                    else:
                        yield items[index], result
                    if bar is not None:
                        bar.update()
        except BaseException:  # an InputError, the driver interrupted, or the caller stopped early
            backend.cancel(list(handles))
            raise
        if failures:
            raise TasksFailed(f"{len(failures)} of {len(items)} tasks failed (the others' results were kept):\n  "
                              + "\n  ".join(failures) + "\nthe first failure, in its worker:\n" + first_traceback)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
