"""Teachers: backends (built-in and plugins) behind one shared cache and control layer."""

from teachkit.teachers.backend import Backend, Capabilities, Request, Response, Usage
from teachkit.teachers.registry import available_backends, register_backend
from teachkit.teachers.teacher import Teacher

__all__ = [
    "Backend",
    "Capabilities",
    "Request",
    "Response",
    "Teacher",
    "Usage",
    "available_backends",
    "register_backend",
]
