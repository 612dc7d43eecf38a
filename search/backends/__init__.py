"""Face detection and embedding backends.

``get_backend()`` returns the configured backend (``settings.FACE_BACKEND``)
or a named one. Instances are created on first use and shared; importing this
package loads no model and imports neither dlib nor onnxruntime.
"""

from __future__ import annotations

import importlib
import threading

from django.conf import settings

from .base import BackendUnavailable, DetectedFace, FaceBackend, Thresholds

__all__ = [
    "BackendUnavailable",
    "DetectedFace",
    "FaceBackend",
    "Thresholds",
    "available_backends",
    "get_backend",
]

DEFAULT_BACKEND = "dlib"

_BACKEND_CLASSES = {
    "dlib": "search.backends.dlib_backend.DlibBackend",
    "insightface": "search.backends.insightface_backend.InsightFaceBackend",
}

_instances: dict[str, FaceBackend] = {}
_lock = threading.Lock()


def available_backends() -> list[str]:
    """The names ``get_backend()`` accepts."""
    return list(_BACKEND_CLASSES)


def get_backend(name: str | None = None) -> FaceBackend:
    """The shared backend instance called ``name`` (default: settings.FACE_BACKEND)."""
    if name is None:
        name = settings.FACE_BACKEND or DEFAULT_BACKEND
    key = str(name).strip().lower()
    if key not in _BACKEND_CLASSES:
        raise ValueError(
            f"Unknown face model {name!r}; choose one of: {', '.join(available_backends())}"
        )
    backend = _instances.get(key)
    if backend is not None:
        return backend
    with _lock:
        backend = _instances.get(key)
        if backend is None:
            module_name, class_name = _BACKEND_CLASSES[key].rsplit(".", 1)
            backend = getattr(importlib.import_module(module_name), class_name)()
            _instances[key] = backend
    return backend
