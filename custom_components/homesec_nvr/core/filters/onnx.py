"""The `onnx` object filter: a YOLOv8 / YOLO11 ONNX detector run on sampled frames.

- Any YOLOv8 / YOLO11-style detection export: input 1x3xHxW (H and W read from the model, so a
  rectangular 384x640 export works), output 1x(4+C)xN (cx, cy, w, h, then C class scores).
  Class names come from the model's `names` metadata, or COCO-80 (see `coco.py`).
- One onnxruntime session per model file, shared by every camera (`SessionCache`), created
  lazily on first use.
- Decoding (PyAV, `sampling.py`) and inference run in worker threads, never on the event loop:
  a decode thread prepares letterboxed frames while the inference thread runs the model.
- Early exit: the scan stops as soon as a trigger class reaches `min_hits` frames.
- Keyframes rarer than the sample interval: samples at most `max_sample_gap_s` apart, from as
  few decoded frames as that allows (keyframes alone for a GOP up to 4 s), never a decode of
  every frame; see `sampling.py` for the trade-off.
- CPU: one decoder thread and one onnxruntime intra-op thread run side by side (about one core
  and a fraction), so a 2-core machine keeps a core for everything else.

onnxruntime is imported lazily: it has no musl wheels, so it is not installable on Home
Assistant OS. Importing this module never needs it; using the filter without it raises
`OnnxRuntimeUnavailable`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import importlib
import io
import logging
import os
import queue
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import av
import av.video.reformatter
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from ..interfaces import ObjectFilter, PermanentError
from ..models import Clip, Detection, FilterResult
from .coco import parse_names_metadata, resolve_class_names
from .sampling import DEFAULT_MAX_GAP_S, FrameSampler
from .yolo_postprocess import FloatArray, IntArray, Letterbox, decode_output

_LOGGER = logging.getLogger(__name__)

BACKEND_NAME: Final = "onnx"
MAX_INTRA_OP_THREADS: Final = 2
# Detections kept in a FilterResult (the rest still count for hits and best confidence).
MAX_DETECTIONS_PER_CLIP: Final = 200
# Decoded frames waiting for inference (and tensors in flight: queue + one on each side).
_QUEUE_SIZE: Final = 2
_BUFFER_RING: Final = _QUEUE_SIZE + 2
_JPEG_QUALITY: Final = 85

ModelErrorReason = Literal["model_not_found", "model_load_failed", "model_bad_shape"]


class OnnxRuntimeUnavailable(PermanentError):
    """onnxruntime cannot be imported (not installed, or no wheel for this platform)."""

    reason: Final = "onnxruntime_unavailable"


class ModelError(PermanentError):
    """The model file is missing, cannot be loaded, or is not a YOLO detection export."""

    def __init__(self, reason: ModelErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason: ModelErrorReason = reason


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a model file holds, as read from its graph and metadata."""

    name: str
    input_width: int
    input_height: int
    num_classes: int
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class OnnxFilterSettings:
    """Per-camera settings of the ONNX filter."""

    model_path: Path
    # Labels to keep (empty = every class of the model).
    classes: frozenset[str] = frozenset()
    min_confidence: float = 0.5
    # Smallest box height kept, as a fraction of the frame height.
    min_box_height: float = 0.0
    # Sampled frames a class must be seen on to count as detected.
    min_hits: int = 1
    sample_interval_s: float = 1.0
    max_frames: int = 30
    # When keyframes are rarer than the interval, the longest time between two samples (None:
    # decode every frame to sample at exact times).
    max_sample_gap_s: float | None = DEFAULT_MAX_GAP_S
    early_exit: bool = True
    # The scan stops once one of these reaches min_hits (empty = never stop early).
    trigger_classes: frozenset[str] = frozenset()
    # None: 1 when decoding runs in parallel, else the physical cores (at most 2).
    intra_op_threads: int | None = None
    iou_threshold: float = 0.45
    # Decode the next frames in a second thread while the model runs.
    parallel_decode: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.min_confidence <= 1.0:
            raise ValueError("min_confidence must be in (0, 1]")
        if not 0.0 <= self.min_box_height <= 1.0:
            raise ValueError("min_box_height must be in [0, 1]")
        if self.min_hits < 1:
            raise ValueError("min_hits must be at least 1")
        if self.sample_interval_s <= 0:
            raise ValueError("sample_interval_s must be positive")
        if self.max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        if self.max_sample_gap_s is not None and self.max_sample_gap_s <= 0:
            raise ValueError("max_sample_gap_s must be positive")
        if self.intra_op_threads is not None and self.intra_op_threads < 1:
            raise ValueError("intra_op_threads must be at least 1")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError("iou_threshold must be in (0, 1]")

    @property
    def resolved_intra_op_threads(self) -> int:
        """The intra-op thread count the session is built with."""
        if self.intra_op_threads is not None:
            return self.intra_op_threads
        return default_intra_op_threads(parallel_decode=self.parallel_decode)


# --- onnxruntime ---------------------------------------------------------------------------


def load_onnxruntime() -> Any:
    """Import onnxruntime, or raise OnnxRuntimeUnavailable."""
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as err:
        raise OnnxRuntimeUnavailable(
            "onnxruntime is not installed (it has no wheel for musl-based systems such as "
            f"Home Assistant OS): {err}"
        ) from err


def onnxruntime_available() -> bool:
    """True when onnxruntime can be imported."""
    try:
        load_onnxruntime()
    except OnnxRuntimeUnavailable:
        return False
    return True


@functools.cache
def physical_cores() -> int:
    """Physical CPU cores usable by this process (SMT siblings counted once)."""
    logical = os.process_cpu_count() or 1
    try:
        siblings = Path("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list")
        text = siblings.read_text(encoding="ascii").strip()
    except OSError:
        return logical
    per_core = 0
    for part in text.split(","):
        low, _, high = part.partition("-")
        per_core += int(high) - int(low) + 1 if high else 1
    return max(1, logical // max(1, per_core))


def default_intra_op_threads(*, parallel_decode: bool) -> int:
    """1 when decoding runs in parallel with inference, else physical cores capped at 2."""
    if parallel_decode:
        return 1
    return max(1, min(MAX_INTRA_OP_THREADS, physical_cores()))


def _session_options(ort: Any, intra_op_threads: int, optimize: bool = True) -> Any:
    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if optimize
        else ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    )
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    # No pre-planned activation block per input shape: 20-25 MB less RSS, same speed.
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """An onnxruntime session and what it expects."""

    info: ModelInfo
    session: Any
    input_name: str
    input_dtype: type[np.floating[Any]]
    output_name: str
    # Output laid out 1xNx(4+C) instead of 1x(4+C)xN.
    transposed_output: bool


def _model_path(path: Path) -> tuple[Path, int]:
    """Resolved path and mtime of a model file, or ModelError(model_not_found)."""
    try:
        resolved = path.expanduser().resolve()
        stat = resolved.stat()
    except (OSError, RuntimeError) as err:
        raise ModelError("model_not_found", f"model file not found: {path}") from err
    if not resolved.is_file():
        raise ModelError("model_not_found", f"model path is not a file: {path}")
    return resolved, stat.st_mtime_ns


def _dim(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _parse_imgsz(raw: str | None) -> tuple[int, int] | None:
    """The exporter's `imgsz` metadata ('[384, 640]' or '640') as (height, width)."""
    if not raw:
        return None
    numbers = [
        int(n)
        for n in raw.replace("[", " ").replace("]", " ").replace(",", " ").split()
        if n.isdigit()
    ]
    if len(numbers) == 1:
        return numbers[0], numbers[0]
    if len(numbers) == 2:
        return numbers[0], numbers[1]
    return None


def _output_layout(shape: list[Any], raw_names: str | None) -> tuple[int | None, bool]:
    """(4 + classes, transposed) of a 1x(4+C)xN output, or of a transposed 1xNx(4+C) one.

    The usual layout wins unless the names metadata, or a clearly anchor-sized middle
    dimension, says the output is transposed.
    """
    if len(shape) != 3:
        return None, False
    rows, cols = _dim(shape[1]), _dim(shape[2])
    names = parse_names_metadata(raw_names) if raw_names else None
    if names:
        expected = 4 + len(names)
        if rows == expected:
            return rows, False
        if cols == expected:
            return cols, True
    if rows is not None and cols is not None and 5 <= cols < rows and rows >= 1000:
        return cols, True
    return rows, False


def _describe(session: Any, path: Path) -> LoadedModel:
    """Check the session is a YOLO detection model and read its shapes and names."""
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    if len(inputs) != 1 or not outputs:
        raise ModelError(
            "model_bad_shape",
            f"{path.name}: expected one image input and a detection output, "
            f"got {len(inputs)} inputs and {len(outputs)} outputs",
        )
    meta = session.get_modelmeta().custom_metadata_map
    image, output = inputs[0], outputs[0]
    shape = list(image.shape)
    if len(shape) != 4 or (shape[1] not in (3, None) and not isinstance(shape[1], str)):
        raise ModelError(
            "model_bad_shape", f"{path.name}: input must be 1x3xHxW, got {image.shape}"
        )
    height, width = _dim(shape[2]), _dim(shape[3])
    if height is None or width is None:
        imgsz = _parse_imgsz(meta.get("imgsz"))
        if imgsz is None:
            raise ModelError(
                "model_bad_shape",
                f"{path.name}: input size is dynamic ({image.shape}) and no imgsz metadata",
            )
        height, width = imgsz
    dtypes: dict[str, type[np.floating[Any]]] = {
        "tensor(float)": np.float32,
        "tensor(float16)": np.float16,
    }
    if image.type not in dtypes:
        raise ModelError("model_bad_shape", f"{path.name}: input type {image.type} unsupported")
    channels, transposed = _output_layout(list(output.shape), meta.get("names"))
    if channels is None or channels < 5:
        raise ModelError(
            "model_bad_shape",
            f"{path.name}: output must be 1x(4+classes)xN (a YOLOv8/YOLO11 detection export), "
            f"got {output.shape}",
        )
    num_classes = channels - 4
    info = ModelInfo(
        name=path.stem,
        input_width=width,
        input_height=height,
        num_classes=num_classes,
        class_names=resolve_class_names(meta.get("names"), num_classes),
    )
    return LoadedModel(
        info=info,
        session=session,
        input_name=image.name,
        input_dtype=dtypes[image.type],
        output_name=output.name,
        transposed_output=transposed,
    )


def _warm_up(model: LoadedModel) -> None:
    """One inference on a blank image: the first run pays for memory planning."""
    info = model.info
    blank = Letterbox.fit(
        info.input_width, info.input_height, info.input_width, info.input_height
    ).new_input_buffer()
    try:
        model.session.run([model.output_name], {model.input_name: blank.astype(model.input_dtype)})
    except Exception as err:
        raise ModelError(
            "model_load_failed", f"model {info.name} fails on a blank image: {err}"
        ) from err


def _load(path: Path, intra_op_threads: int, optimize: bool = True) -> LoadedModel:
    ort = load_onnxruntime()
    try:
        session = ort.InferenceSession(
            str(path),
            sess_options=_session_options(ort, intra_op_threads, optimize),
            providers=["CPUExecutionProvider"],
        )
    except Exception as err:
        raise ModelError(
            "model_load_failed", f"cannot load model {path.name}: {str(err).strip()[:300]}"
        ) from err
    return _describe(session, path)


def inspect_model(path: Path) -> ModelInfo:
    """Load a model once and describe it (blocking; for configuration validation).

    Raises ModelError (reason model_not_found / model_load_failed / model_bad_shape) or
    OnnxRuntimeUnavailable.
    """
    resolved, _ = _model_path(path)
    return _load(resolved, intra_op_threads=1, optimize=False).info


class SessionCache:
    """One onnxruntime session per (model file, mtime, intra-op threads), thread-safe.

    A changed file (new mtime) gets a new session; the stale one is dropped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, int, int], LoadedModel] = {}

    def get(self, path: Path, intra_op_threads: int) -> LoadedModel:
        """The loaded model, created on first use (blocking)."""
        resolved, mtime_ns = _model_path(path)
        key = (str(resolved), mtime_ns, intra_op_threads)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                for stale in [k for k in self._models if k[0] == key[0] and k[1] != mtime_ns]:
                    del self._models[stale]
                _LOGGER.debug("loading %s with %d intra-op threads", resolved, intra_op_threads)
                model = _load(resolved, intra_op_threads)
                _warm_up(model)
                self._models[key] = model
            return model

    def clear(self) -> None:
        """Drop every session (they are freed once no scan uses them)."""
        with self._lock:
            self._models.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)


DEFAULT_SESSION_CACHE: Final = SessionCache()


# --- scanning --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Prepared:
    """A sampled frame ready for the model."""

    tensor: FloatArray
    rgb: npt.NDArray[np.uint8]  # the resized frame (letterbox area, no padding)
    letterbox: Letterbox
    timestamp_s: float


@dataclass(slots=True)
class _Failure:
    error: BaseException


class _End:
    pass


_END: Final = _End()


class _FramePreparer:
    """Letterbox frames into a small ring of reusable input tensors (decode thread)."""

    def __init__(self, input_width: int, input_height: int) -> None:
        self._input_width = input_width
        self._input_height = input_height
        self._reformatter = av.video.reformatter.VideoReformatter()
        self._letterbox: Letterbox | None = None
        self._ring: list[FloatArray | None] = []
        self._next = 0

    def prepare(self, frame: av.VideoFrame, timestamp_s: float) -> _Prepared:
        letterbox = self._letterbox
        if letterbox is None or (letterbox.frame_width, letterbox.frame_height) != (
            frame.width,
            frame.height,
        ):
            letterbox = Letterbox.fit(
                frame.width, frame.height, self._input_width, self._input_height
            )
            self._letterbox = letterbox
            self._ring = [None] * _BUFFER_RING
        resized = self._reformatter.reformat(
            frame,
            width=letterbox.resized_width,
            height=letterbox.resized_height,
            format="rgb24",
            interpolation="BILINEAR",
        )
        rgb = np.asarray(resized.to_ndarray(), dtype=np.uint8)
        tensor = self._ring[self._next]
        if tensor is None:  # allocated on first use: an early exit needs only one
            tensor = self._ring[self._next] = letterbox.new_input_buffer()
        self._next = (self._next + 1) % len(self._ring)
        letterbox.fill(tensor, rgb)
        return _Prepared(tensor=tensor, rgb=rgb, letterbox=letterbox, timestamp_s=timestamp_s)


@dataclass(frozen=True, slots=True)
class FrameDetections:
    """What the model found on one frame, with the frame as JPEG (None when nothing)."""

    detections: tuple[Detection, ...]
    jpeg: bytes | None
    duration_ms: float


@dataclass(frozen=True, slots=True)
class _BestFrame:
    rgb: npt.NDArray[np.uint8]
    letterbox: Letterbox
    detections: list[Detection]


@dataclass(frozen=True, slots=True)
class ScanStats:
    """How the last scan went (for diagnostics and the benchmark)."""

    clip_id: str
    sampling_mode: str | None
    keyframe_interval_s: float | None
    frames_sampled: int
    frames_decoded: int
    inference_ms: float
    duration_ms: int
    early_exit: bool


@dataclass
class _ScanState:
    """What has been seen so far in one clip."""

    hits: dict[str, int] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)
    detections: list[Detection] = field(default_factory=list)
    frames: int = 0
    inference_s: float = 0.0
    early_exit: bool = False
    # Per label, the frame where it had its best confidence.
    best_frames: dict[str, _BestFrame] = field(default_factory=dict)


class OnnxObjectFilter(ObjectFilter):
    """Detects objects in a clip with a YOLO ONNX model on sampled frames."""

    name = BACKEND_NAME

    def __init__(
        self,
        settings: OnnxFilterSettings,
        *,
        session_cache: SessionCache | None = None,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self.settings = settings
        self._cache = session_cache if session_cache is not None else DEFAULT_SESSION_CACHE
        self._executor = executor
        self._owns_executor = executor is None
        self._running: dict[concurrent.futures.Future[FilterResult], threading.Event] = {}
        self._running_lock = threading.Lock()
        self._closed = False
        self.last_scan: ScanStats | None = None

    def _get_executor(self) -> concurrent.futures.Executor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="homesec-onnx"
            )
        return self._executor

    async def detect(self, clip: Clip) -> FilterResult:
        """Scan the clip in a worker thread; raise PermanentError for a bad clip or model."""
        if self._closed:
            raise PermanentError("the ONNX filter is closed")
        stop = threading.Event()
        future = self._get_executor().submit(self.detect_blocking, clip, stop)
        with self._running_lock:
            self._running[future] = stop
        future.add_done_callback(self._forget)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            stop.set()
            raise

    def _forget(self, future: concurrent.futures.Future[FilterResult]) -> None:
        with self._running_lock:
            self._running.pop(future, None)

    async def close(self) -> None:
        """Stop running scans, wait for them, and shut down the executor if it is ours."""
        self._closed = True
        with self._running_lock:
            running = list(self._running.items())
        for _, stop in running:
            stop.set()
        if running:
            await asyncio.wait([asyncio.wrap_future(future) for future, _ in running])
        if self._owns_executor and self._executor is not None:
            # Idle by now: joining its thread is immediate.
            self._executor.shutdown(wait=True)
            self._executor = None

    def preload(self) -> ModelInfo:
        """Create (or reuse) the session now (blocking); describe the model."""
        return self._cache.get(
            self.settings.model_path, self.settings.resolved_intra_op_threads
        ).info

    # The blocking scan ------------------------------------------------------------------------

    def detect_blocking(self, clip: Clip, stop: threading.Event | None = None) -> FilterResult:
        """Scan a clip in the calling thread (detect() runs this in a worker thread)."""
        started = time.perf_counter()
        stop = stop or threading.Event()
        settings = self.settings
        model = self._cache.get(settings.model_path, settings.resolved_intra_op_threads)
        class_rows = self._class_rows(model.info)
        if not clip.path.is_file():
            raise PermanentError(f"clip file not found: {clip.path}")
        sampler = FrameSampler(
            clip.path,
            settings.sample_interval_s,
            settings.max_frames,
            stop=stop,
            max_gap_s=settings.max_sample_gap_s,
        )
        preparer = _FramePreparer(model.info.input_width, model.info.input_height)
        state = _ScanState()
        frames = (
            self._prepared_in_thread(sampler, preparer, stop)
            if settings.parallel_decode
            else (preparer.prepare(s.frame, s.timestamp_s) for s in sampler)
        )
        try:
            for prepared in frames:
                self._infer(model, class_rows, prepared, state)
                if self._trigger_reached(state):
                    state.early_exit = True
                    break
        finally:
            stop.set()
            frames.close()
        result = self._result(model.info, state, started)
        self.last_scan = ScanStats(
            clip_id=clip.clip_id,
            sampling_mode=sampler.mode.value if sampler.mode else None,
            keyframe_interval_s=sampler.keyframe_interval_s,
            frames_sampled=state.frames,
            frames_decoded=sampler.frames_decoded,
            inference_ms=state.inference_s * 1000,
            duration_ms=result.duration_ms,
            early_exit=state.early_exit,
        )
        _LOGGER.debug("%s", self.last_scan)
        return result

    def detect_frame_blocking(self, frame: av.VideoFrame) -> FrameDetections:
        """Look at one decoded frame (a live camera's detect frame) in the calling thread.

        Every detection above the confidence and box-size limits counts (`min_hits` is for
        clips); the JPEG shows the frame with its boxes when something was found.
        """
        started = time.perf_counter()
        model = self._cache.get(self.settings.model_path, self.settings.resolved_intra_op_threads)
        prepared = _FramePreparer(model.info.input_width, model.info.input_height).prepare(
            frame, 0.0
        )
        state = _ScanState()
        self._infer(model, self._class_rows(model.info), prepared, state)
        detections = tuple(state.detections)
        jpeg = (
            render_jpeg(prepared.rgb, prepared.letterbox.scale, list(detections))
            if detections
            else None
        )
        return FrameDetections(detections, jpeg, (time.perf_counter() - started) * 1000)

    def _class_rows(self, info: ModelInfo) -> IntArray | None:
        if not self.settings.classes:
            return None
        rows = [i for i, name in enumerate(info.class_names) if name in self.settings.classes]
        unknown = self.settings.classes - set(info.class_names)
        if unknown:
            _LOGGER.debug("%s does not know the classes %s", info.name, sorted(unknown))
        return np.asarray(rows, dtype=np.intp)

    def _prepared_in_thread(
        self, sampler: FrameSampler, preparer: _FramePreparer, stop: threading.Event
    ) -> Generator[_Prepared]:
        """Decode and letterbox in a helper thread; yield the frames in order.

        The helper waits for the first frame's inference before reading ahead: when that
        frame already ends the scan (early exit), no second frame is decoded for nothing.
        """
        items: queue.Queue[_Prepared | _Failure | _End] = queue.Queue(maxsize=_QUEUE_SIZE)
        first_done = threading.Event()

        def put(item: _Prepared | _Failure | _End) -> bool:
            while not stop.is_set():
                try:
                    items.put(item, timeout=0.05)
                except queue.Full:
                    continue
                return True
            return False

        def produce() -> None:
            samples = iter(sampler)
            try:
                for sampled in samples:
                    if stop.is_set() or not put(
                        preparer.prepare(sampled.frame, sampled.timestamp_s)
                    ):
                        return
                    while not first_done.wait(0.05):
                        if stop.is_set():
                            return
            except BaseException as err:  # noqa: BLE001 - handed over to the consumer
                put(_Failure(err))
            else:
                put(_END)
            finally:
                samples.close()

        thread = threading.Thread(target=produce, name="homesec-onnx-decode", daemon=True)
        thread.start()
        try:
            while not stop.is_set():
                try:
                    item = items.get(timeout=0.1)
                except queue.Empty:
                    if thread.is_alive() or stop.is_set():
                        continue
                    raise PermanentError("the frame decoder stopped unexpectedly") from None
                if isinstance(item, _End):
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item
                first_done.set()
        finally:
            stop.set()
            first_done.set()
            # Free the queue so a producer blocked on put() sees the stop at once.
            while True:
                try:
                    items.get_nowait()
                except queue.Empty:
                    break
            thread.join()

    def _infer(
        self,
        model: LoadedModel,
        class_rows: IntArray | None,
        prepared: _Prepared,
        state: _ScanState,
    ) -> None:
        settings = self.settings
        tensor = prepared.tensor
        if model.input_dtype is not np.float32:
            tensor = tensor.astype(model.input_dtype)
        inference_started = time.perf_counter()
        try:
            outputs = model.session.run([model.output_name], {model.input_name: tensor})
        except Exception as err:
            raise ModelError(
                "model_load_failed", f"inference failed with {model.info.name}: {err}"
            ) from err
        state.inference_s += time.perf_counter() - inference_started
        output = np.asarray(outputs[0], dtype=np.float32)
        if model.transposed_output:
            output = output.reshape(output.shape[-2:]).T
        raw = decode_output(
            output,
            class_rows,
            settings.min_confidence,
            settings.iou_threshold,
            prepared.letterbox,
        )
        state.frames += 1
        min_height = settings.min_box_height * prepared.letterbox.frame_height
        names = model.info.class_names
        frame_detections: list[Detection] = []
        for index in range(len(raw)):
            x1, y1, x2, y2 = (float(v) for v in raw.boxes[index])
            if y2 - y1 < min_height:
                continue
            frame_detections.append(
                Detection(
                    label=names[int(raw.class_ids[index])],
                    confidence=float(raw.scores[index]),
                    box=(x1, y1, x2, y2),
                    timestamp_s=prepared.timestamp_s,
                )
            )
        if not frame_detections:
            return
        for label in {d.label for d in frame_detections}:
            state.hits[label] = state.hits.get(label, 0) + 1
        best_frame: _BestFrame | None = None
        for detection in frame_detections:
            if detection.confidence > state.best.get(detection.label, 0.0):
                state.best[detection.label] = detection.confidence
                if best_frame is None:
                    best_frame = _BestFrame(
                        rgb=np.array(prepared.rgb, copy=True),
                        letterbox=prepared.letterbox,
                        detections=frame_detections,
                    )
                state.best_frames[detection.label] = best_frame
        state.detections.extend(frame_detections)

    def _trigger_reached(self, state: _ScanState) -> bool:
        settings = self.settings
        return settings.early_exit and any(
            state.hits.get(label, 0) >= settings.min_hits for label in settings.trigger_classes
        )

    def _result(self, info: ModelInfo, state: _ScanState, started: float) -> FilterResult:
        detected = sorted(
            (label for label, hits in state.hits.items() if hits >= self.settings.min_hits),
            key=lambda label: -state.best[label],
        )
        kept = set(detected)
        detections = [d for d in state.detections if d.label in kept][:MAX_DETECTIONS_PER_CLIP]
        jpeg: bytes | None = None
        if detected:
            # The best frame: that of the most confident trigger class, else of any class.
            triggers = [label for label in detected if label in self.settings.trigger_classes]
            best = state.best_frames[(triggers or detected)[0]]
            drawn = [d for d in best.detections if d.label in kept]
            jpeg = render_jpeg(best.rgb, best.letterbox.scale, drawn)
        duration_ms = int((time.perf_counter() - started) * 1000)
        return FilterResult(
            detected_classes=tuple(detected),
            best_confidence={label: state.best[label] for label in detected},
            detections=tuple(detections),
            frames_sampled=state.frames,
            model=info.name,
            duration_ms=duration_ms,
            best_frame_jpeg=jpeg,
        )


# --- best frame ------------------------------------------------------------------------------

_PALETTE: Final = (
    (255, 56, 56),
    (72, 249, 10),
    (0, 194, 255),
    (255, 178, 29),
    (207, 210, 49),
    (146, 204, 23),
    (255, 55, 199),
    (132, 56, 255),
)


@functools.cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def render_jpeg(rgb: npt.NDArray[np.uint8], scale: float, detections: list[Detection]) -> bytes:
    """JPEG of a (resized) RGB frame with boxes and labels; boxes are in frame pixels."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    font = _font()
    for detection in sorted(detections, key=lambda d: d.confidence):
        color = _PALETTE[sum(detection.label.encode()) % len(_PALETTE)]
        x1, y1, x2, y2 = (v * scale for v in detection.box)
        draw.rectangle((x1, y1, x2, y2), outline=color, width=2)
        text = f"{detection.label} {detection.confidence:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        text_w, text_h = right - left + 4, bottom - top + 4
        ty = y1 - text_h if y1 - text_h >= 0 else y1
        draw.rectangle((x1, ty, x1 + text_w, ty + text_h), fill=color)
        draw.text((x1 + 2 - left, ty + 2 - top), text, fill=(0, 0, 0), font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue()
